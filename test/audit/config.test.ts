import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'gomodel-audit-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function withYaml(yaml: string, env: Record<string, string> = {}) {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, yaml);
  return loadConfig({ GOMODEL_CONFIG: path, ...env }).audit;
}

describe('audit settings', () => {
  it('default to entries without bodies, 64 KiB bodies, the usual secret fields and 30 days', () => {
    const a = loadConfig({}).audit;
    expect(a).toMatchObject({ enabled: true, bodies: false, bodyMaxBytes: 65536, retentionMs: 30 * 86_400_000 });
    expect(a.redactFields).toEqual(expect.arrayContaining(['api_key', 'authorization', 'password']));
  });

  it('are read from the audit section of the YAML file, the environment winning', () => {
    const yaml = 'audit:\n  bodies: true\n  body_max_bytes: 2K\n  redact_fields: [Token, api_key]\n  retention: 12h\n';
    expect(withYaml(yaml)).toEqual({ enabled: true, bodies: true, bodyMaxBytes: 2048, redactFields: ['token', 'api_key'], retentionMs: 12 * 3_600_000 });
    expect(withYaml(yaml, { AUDIT_BODIES: 'false', AUDIT_RETENTION: 'forever', AUDIT_REDACT_FIELDS: 'secret' })).toMatchObject({ bodies: false, retentionMs: null, redactFields: ['secret'] });
    expect(withYaml('audit:\n  retention: 0\n').retentionMs).toBeNull();
  });

  it('refuse a retention that is not a duration', () => {
    for (const bad of ['30', '90m', '-1d', '0d', 'soon']) expect(() => loadConfig({ AUDIT_RETENTION: bad }), bad).toThrow(/AUDIT_RETENTION must be a duration like 400d/);
    expect(() => loadConfig({ AUDIT_BODY_MAX_BYTES: 'lots' })).toThrow(/AUDIT_BODY_MAX_BYTES/);
  });
});
