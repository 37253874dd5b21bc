import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

/** Runs a bench command with `args` (and `env` over the test's); flags are read before anything is started. */
async function bench(script: string, args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', `bench/${script}`, ...args], { cwd: root, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bench command flags', () => {
  it('prints the usage for --help and exits 0', async () => {
    const r = await bench('pair.ts', ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: npm run bench:pair');
  });

  it('names an unknown flag, prints the usage and exits 2', async () => {
    const r = await bench('run.ts', ['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--bogus'");
    expect(r.stderr).toContain('--targets=a,b');
  });

  it.each([
    ['run.ts', ['--rounds=0'], '--rounds: expected a whole number of at least 1, got "0"'],
    ['run.ts', ['--targets=direct,nope'], '--targets: unknown target "nope"'],
    ['run.ts', ['--phase=proxy,speed'], '--phase: unknown phase "speed"'],
    ['run.ts', ['--rows=lots'], '--rows: cannot read "lots"'],
    ['run.ts', ['--runtime=node20,bun'], '--runtime: unknown runtime "bun" (known: node20, node24, deno)'],
    ['pair.ts', ['--against=bare', '--pairs=2.5'], '--pairs: expected a whole number of at least 1, got "2.5"'],
    ['pair.ts', [], 'give one of --baseline and --against'],
    ['pair.ts', ['--against=bare', '--pairs=4', '--processes=5'], '--processes: expected a whole number from 1 to --pairs, got "5"'],
    ['journal.ts', ['--seconds=0'], '--seconds: expected a positive number, got "0"'],
    ['journal.ts', ['--fsync=1.5'], '--fsync: expected whole milliseconds, got "1.5"'],
    ['profile.ts', ['--workers=0'], '--workers: expected a whole number of at least 1, got "0"'],
  ])('%s %j is refused with what was wrong (exit 2)', async (script, args, message) => {
    const r = await bench(script, args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('refuses a runtime whose executable is missing, naming the variable to set (exit 2)', async () => {
    const r = await bench('run.ts', ['--runtime=node24'], { GOMODEL_NODE24: '/nonexistent/node' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--runtime=node24: cannot run /nonexistent/node (ENOENT); set GOMODEL_NODE24 to a Node 24 executable');
  });

  it('looks for a runtime whose variable is unset in the cache, and names the variable when it is not there', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'gomodel-runtimes-'));
    try {
      const { deno } = JSON.parse(readFileSync(join(root, '.ci/runtimes.json'), 'utf8')) as { deno: string };
      const r = await bench('run.ts', ['--runtime=deno'], { GOMODEL_DENO: undefined, XDG_CACHE_HOME: cache });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--runtime=deno: cannot run ${cache}/gomodel-ts/runtimes/deno-${deno}/node_modules/@deno/linux-x64-glibc/deno (ENOENT); set GOMODEL_DENO`);
    } finally {
      rmSync(cache, { recursive: true });
    }
  });

  it('refuses a runtime that is another one than its name says (exit 2)', async () => {
    // A Node on PATH given as Deno (not process.execPath: under `deno task test` that is Deno).
    const r = await bench('run.ts', ['--runtime=deno'], { GOMODEL_DENO: 'node' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--runtime=deno: node is v\d+\.\d+\.\d+, not Deno; set GOMODEL_DENO to a Deno executable/);
  });
});
