import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import type { Client } from '../../generated/client/index.ts';
import type { AdminUpsertProviderCredentialRequest } from '../../generated/types.gen.ts';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { contractClient } from '../support/contract.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

// Replicas are gateways in this process over one database: msw intercepts what each sends to the
// providers, and each writes its log lines where the test reads them.
const MASTER = 'master-provider-credentials';
const CREDENTIALS_KEY = randomBytes(32).toString('base64');
const ENV_KEY = 'sk-env-openai-0123456789abcdef';
const KEY_ONE = 'sk-managed-one-0123456789abcdef';
const KEY_TWO = 'sk-managed-two-0123456789abcdef';
const KEY_NEW = 'sk-managed-new-0123456789abcdef';
const msw = mockProviders();
const managedSeen: string[] = [];

interface Replica {
  gw: Gateway;
  client: Client;
  lines: string[];
  stop(): Promise<void>;
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
const replicas: Replica[] = [];
let a: Replica;
let b: Replica;

async function replica(env: Record<string, string | undefined> = {}): Promise<Replica> {
  const spillDir = await mkdtemp(join(tmpdir(), 'gomodel-spill-'));
  const config = loadConfig({
    PORT: '0',
    POSTGRES_URL: db.url,
    USAGE_SPILL_DIR: spillDir,
    GOMODEL_MASTER_KEY: MASTER,
    OPENAI_API_KEY: ENV_KEY,
    GOMODEL_CREDENTIALS_KEY: CREDENTIALS_KEY,
    ...env,
  } as Record<string, string>);
  const pool = connect(db.url, 2);
  const lines: string[] = [];
  // Lines as the gateway writes them, before any scrubbing: no key may be in them in the first place.
  const gw = await startGateway(config, { url: db.url, sql: pool }, pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }));
  const r: Replica = {
    gw,
    client: contractClient(gw.url, MASTER),
    lines,
    async stop() {
      await gw.close();
      await pool.end({ timeout: 1 });
      await rm(spillDir, { recursive: true, force: true });
    },
  };
  replicas.push(r);
  return r;
}

beforeAll(async () => {
  msw.use(
    http.get('https://api.openai.com/v1/models', () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post('https://api.openai.com/v1/chat/completions', () => HttpResponse.json(jsonFixture('openai/chat.json'))),
    http.get('https://managed.example/v1/models', () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post('https://managed.example/v1/chat/completions', ({ request }) => {
      const key = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
      managedSeen.push(key);
      if (![KEY_ONE, KEY_TWO, KEY_NEW].includes(key)) return HttpResponse.json(jsonFixture('openai/error-401.json'), { status: 401 });
      return HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
  );
  db = await createTestDatabase();
  sql = connect(db.url, 1);
  [a, b] = await Promise.all([replica(), replica()]);
}, 30_000);

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await sql.end({ timeout: 1 });
  await db.drop();
  msw.close();
});

async function chat(r: Replica, model: string) {
  const res = await realFetch(`${r.gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${MASTER}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code };
}

/** Milliseconds until `r` answers `model` with `status` (polled every 10 ms); fails past a second. */
async function untilAnswers(r: Replica, model: string, status: number): Promise<number> {
  const start = Date.now();
  while ((await chat(r, model)).status !== status) {
    if (Date.now() - start > 1000) throw new Error(`${r.gw.url} did not answer ${status} for ${model} within a second`);
    await new Promise((done) => setTimeout(done, 10));
  }
  return Date.now() - start;
}

/** Bodies the generated type would refuse at compile time are the point of some cases. */
const upsert = (r: Replica, body: Record<string, unknown>) => admin.upsertProviderCredential({ client: r.client, body: body as unknown as AdminUpsertProviderCredentialRequest });

describe('/admin/provider-credentials', () => {
  it('lists the providers from the environment read-only, keys redacted', async () => {
    const { data, response } = await admin.listProviderCredentials({ client: a.client });
    expect(response.status).toBe(200);
    expect(data).toEqual([{ name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', models: [], api_keys: ['sk-…cdef'], enabled: true, managed: false }]);
  });

  it('lists every provider type with its fields; a type without a default base URL requires one', async () => {
    const { data } = await admin.listProviderCredentialTypes({ client: a.client });
    expect(data).toHaveLength(15);
    expect(data!.find((t) => t.type === 'openai')).toMatchObject({ default_base_url: 'https://api.openai.com/v1', fields: expect.arrayContaining([{ name: 'api_keys', required: true }]) });
    const oracle = data!.find((t) => t.type === 'oracle')!;
    expect(oracle.default_base_url).toBeUndefined();
    expect(oracle.fields).toContainEqual({ name: 'base_url', required: true });
  });

  it('refuses bad input with a clear 400, never quoting a key', async () => {
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ name: 'x', type: 'nope', api_keys: [KEY_ONE] }, 'type', 'unknown_provider_type'],
      [{ name: 'Bad/Name', type: 'openai', api_keys: [KEY_ONE] }, 'name', null],
      [{ name: 'x', type: 'openai', api_keys: [KEY_ONE], base_url: 'ftp://host/v1' }, 'base_url', null],
      [{ name: 'x', type: 'openai', api_keys: [KEY_ONE], base_url: 'https://user:pw@host/v1' }, 'base_url', null],
      [{ name: 'x', type: 'openai', api_keys: [`${KEY_ONE} tail`] }, 'api_keys', null],
      [{ name: 'x', type: 'openai' }, 'api_keys', null],
      [{ name: 'x', api_keys: [KEY_ONE] }, 'type', null],
      [{ name: 'x', type: 'oracle', api_keys: [KEY_ONE] }, 'base_url', null],
      [{ name: 'openai', type: 'openai', api_keys: [KEY_ONE] }, 'name', 'provider_read_only'],
    ];
    for (const [body, param, code] of cases) {
      const { error, response } = await upsert(a, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(error, JSON.stringify(body)).toMatchObject({ type: 'invalid_request_error', param, ...(code ? { code } : {}) });
      expect(JSON.stringify(error)).not.toContain(KEY_ONE);
    }
    const unknownField = await upsert(a, { name: 'x', type: 'openai', api_keys: [KEY_ONE], vertex_project: 'p' });
    expect(unknownField.response.status).toBe(400);
    const { response } = await admin.deleteProviderCredential({ client: a.client, path: { name: 'openai' } });
    expect(response.status).toBe(400);
    expect((await admin.deleteProviderCredential({ client: a.client, path: { name: 'missing' } })).response.status).toBe(404);
    expect((await sql`select count(*)::int as n from provider_credentials`)[0]!.n).toBe(0);
  });

  it('registers a provider on every replica within a second, without a restart; keys stored sealed, shown redacted', async () => {
    expect((await chat(b, 'team/gpt-4o-mini')).status).toBe(404);
    const { data, response } = await upsert(a, { name: 'team', type: 'openai', base_url: 'https://managed.example/v1', api_keys: [KEY_ONE, KEY_TWO], models: ['gpt-4o-mini'] });
    expect(response.status).toBe(200);
    expect(data).toMatchObject({ name: 'team', type: 'openai', base_url: 'https://managed.example/v1', api_keys: ['sk-…cdef', 'sk-…cdef'], models: ['gpt-4o-mini'], enabled: true, managed: true });
    expect(JSON.stringify(data)).not.toMatch(/managed-(one|two)/);
    // The replica that stored it serves it at once; the other within a second.
    expect((await chat(a, 'team/gpt-4o-mini')).status).toBe(200);
    const delay = await untilAnswers(b, 'team/gpt-4o-mini', 200);
    console.log(`a stored provider reached the other replica in ${delay} ms`);
    managedSeen.length = 0;
    for (let i = 0; i < 4; i++) expect((await chat(b, 'team/gpt-4o-mini')).status).toBe(200);
    expect(new Set(managedSeen)).toEqual(new Set([KEY_ONE, KEY_TWO]));

    const [row] = await sql<{ text: string; secret: Buffer; key_hints: string[] }[]>`select row_to_json(p)::text as text, secret, key_hints from provider_credentials p where name = 'team'`;
    for (const key of [KEY_ONE, KEY_TWO]) {
      expect(row!.text).not.toContain(key);
      expect(row!.secret.includes(Buffer.from(key))).toBe(false);
    }
    expect(row!.key_hints).toEqual(['sk-…cdef', 'sk-…cdef']);

    const listed = await admin.listProviderCredentials({ client: b.client });
    expect(listed.data!.map((p) => [p.name, p.managed])).toEqual([['openai', false], ['team', true]]);
    expect(JSON.stringify(listed.data)).not.toMatch(/managed-(one|two)/);
  });

  it('keeps the stored keys on an update without api_keys, and rotates them on every replica with new ones', async () => {
    const kept = await upsert(a, { name: 'team', models: ['gpt-4o-mini', 'gpt-4o'] });
    expect(kept.data).toMatchObject({ type: 'openai', base_url: 'https://managed.example/v1', models: ['gpt-4o-mini', 'gpt-4o'], api_keys: ['sk-…cdef', 'sk-…cdef'] });
    managedSeen.length = 0;
    expect((await chat(b, 'team/gpt-4o-mini')).status).toBe(200);
    expect([KEY_ONE, KEY_TWO]).toContain(managedSeen.at(-1));

    await upsert(a, { name: 'team', api_keys: [KEY_NEW] });
    const start = Date.now();
    do {
      managedSeen.length = 0;
      expect((await chat(b, 'team/gpt-4o-mini')).status).toBe(200);
      if (Date.now() - start > 1000) throw new Error('the new key did not reach the other replica within a second');
    } while (managedSeen.at(-1) !== KEY_NEW);
    for (let i = 0; i < 3; i++) await chat(b, 'team/gpt-4o-mini');
    expect(new Set(managedSeen)).toEqual(new Set([KEY_NEW]));
  });

  it('serves a stored provider from the start of a replica started later', async () => {
    const later = await replica();
    managedSeen.length = 0;
    expect((await chat(later, 'team/gpt-4o-mini')).status).toBe(200);
    expect(managedSeen).toEqual([KEY_NEW]);
  });

  it('leaves a provider sealed under another GOMODEL_CREDENTIALS_KEY out, with an error naming it, and starts', async () => {
    const other = await replica({ GOMODEL_CREDENTIALS_KEY: randomBytes(32).toString('hex') });
    const errors = other.lines.filter((l) => l.includes('"provider":"team"') && l.includes('do not open'));
    expect(errors).toHaveLength(1);
    expect(JSON.parse(errors[0]!).level).toBe(50);
    expect(await chat(other, 'team/gpt-4o-mini')).toEqual({ status: 404, code: 'model_not_found' });
    expect((await chat(other, 'gpt-4o-mini')).status).toBe(200);
    const listed = await admin.listProviderCredentials({ client: other.client });
    expect(listed.data!.find((p) => p.name === 'team')).toMatchObject({ managed: true, api_keys: ['sk-…cdef'] });
  });

  it('answers 503 feature_unavailable to changes without GOMODEL_CREDENTIALS_KEY, and stores nothing', async () => {
    const keyless = await replica({ GOMODEL_CREDENTIALS_KEY: undefined });
    const { error, response } = await upsert(keyless, { name: 'other', type: 'openai', api_keys: [KEY_ONE] });
    expect(response.status).toBe(503);
    expect(error).toMatchObject({ code: 'feature_unavailable', message: expect.stringContaining('GOMODEL_CREDENTIALS_KEY') });
    expect((await admin.deleteProviderCredential({ client: keyless.client, path: { name: 'team' } })).response.status).toBe(503);
    expect((await sql`select name from provider_credentials order by name`).map((r) => r.name)).toEqual(['team']);
    expect(keyless.lines.some((l) => l.includes('"provider":"team"') && l.includes('GOMODEL_CREDENTIALS_KEY is not set'))).toBe(true);
    expect(() => loadConfig({ GOMODEL_CREDENTIALS_KEY: 'too-short' })).toThrow(/GOMODEL_CREDENTIALS_KEY must be 32 bytes/);
  });

  it('deletes a provider: gone on every replica within a second', async () => {
    const { response } = await admin.deleteProviderCredential({ client: a.client, path: { name: 'team' } });
    expect(response.status).toBe(204);
    expect(await chat(a, 'team/gpt-4o-mini')).toEqual({ status: 404, code: 'model_not_found' });
    await untilAnswers(b, 'team/gpt-4o-mini', 404);
    expect((await admin.deleteProviderCredential({ client: a.client, path: { name: 'team' } })).response.status).toBe(404);
    expect((await sql`select count(*)::int as n from provider_credentials`)[0]!.n).toBe(0);
  });

  it('writes no key to any replica’s log', () => {
    const lines = replicas.flatMap((r) => r.lines);
    expect(lines.some((l) => l.includes('registered from the admin API'))).toBe(true);
    for (const key of [ENV_KEY, KEY_ONE, KEY_TWO, KEY_NEW]) expect(lines.filter((l) => l.includes(key))).toEqual([]);
  });
});
