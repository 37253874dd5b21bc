import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

// Several keys per provider, each provider instance on a host of its own so that msw tells them
// apart. The mocks answer by the key they receive (Authorization or x-api-key), as a provider
// would, and note it. Which key goes first depends on the model-list fetch at start-up (it takes
// a turn too), so the tests name keys by the order they were seen in.
const msw = mockProviders();
const seen: Record<string, string[]> = { rr: [], rl: [], auth: [], all: [], stream: [], anthropic: [] };
interface Refusal {
  status: number;
  headers?: Record<string, string>;
}
/** Per host, how a key is answered: a refusal, or undefined for a reply. */
const rules: Record<string, (key: string) => Refusal | undefined> = {};
const lines: string[] = [];

const K = (name: string) => `sk-test-${name}-0123456789abcdef`;

let spillDir: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let gw: Gateway;
let sdk: OpenAI;

function openAiHost(host: string) {
  rules[host] = () => undefined;
  return [
    http.get(`https://${host}.example/v1/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`https://${host}.example/v1/chat/completions`, async ({ request }) => {
      const key = request.headers.get('authorization')!.replace(/^Bearer /, '');
      seen[host]!.push(key);
      const refusal = rules[host]!(key);
      if (refusal) return HttpResponse.json(jsonFixture(refusal.status === 429 ? 'openai/error-429.json' : 'openai/error-401.json'), { status: refusal.status, headers: refusal.headers });
      const body = (await request.json()) as { stream?: boolean };
      return body.stream ? sseResponse(fixture('openai/stream.sse')) : HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
  ];
}

beforeAll(async () => {
  msw.use(
    ...['rr', 'rl', 'auth', 'all', 'stream'].flatMap(openAiHost),
    http.get('https://api.anthropic.com/v1/models', () => HttpResponse.json({ data: [{ id: 'claude-sonnet-4-5-20250929', type: 'model' }], has_more: false })),
    http.post('https://api.anthropic.com/v1/messages', ({ request }) => {
      const key = request.headers.get('x-api-key')!;
      seen.anthropic!.push(key);
      if (key === seen.anthropic![0]) return HttpResponse.json(jsonFixture('anthropic/error-401.json'), { status: 401 });
      return HttpResponse.json(jsonFixture('anthropic/message.json'));
    }),
  );
  const env: Record<string, string> = { RETRY_MAX_RETRIES: '0' };
  for (const host of ['rr', 'rl', 'auth', 'all', 'stream']) {
    const prefix = `OPENAI_${host.toUpperCase()}`;
    env[`${prefix}_BASE_URL`] = `https://${host}.example/v1`;
    env[`${prefix}_API_KEY`] = K(`${host}-a`);
    env[`${prefix}_API_KEY_2`] = K(`${host}-b`);
    if (host === 'rr' || host === 'rl') env[`${prefix}_API_KEY_3`] = K(`${host}-c`);
  }
  env.ANTHROPIC_API_KEY = K('anthropic-a');
  env.ANTHROPIC_API_KEY_2 = K('anthropic-b');
  db = await createTestDatabase();
  spillDir = await mkdtemp(join(tmpdir(), 'gomodel-spill-'));
  const config = loadConfig({ PORT: '0', POSTGRES_URL: db.url, USAGE_SPILL_DIR: spillDir, ...env });
  sql = connect(db.url, 4);
  // Lines as the gateway writes them, before any scrubbing: no key may be in them in the first place.
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  gw = await startGateway(config, { url: db.url, sql }, log);
  sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});

afterAll(async () => {
  await gw.close();
  await sql.end({ timeout: 1 });
  await db.drop();
  await rm(spillDir, { recursive: true, force: true });
  msw.close();
});

const ask = (provider: string, stream = false) =>
  realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: `${provider}/gpt-4o-mini`, messages: [{ role: 'user', content: 'hi' }], stream }),
  }).then(async (res) => ({ status: res.status, text: await res.text() }));

describe('several keys per provider', () => {
  it('reads OPENAI_API_KEY_2, _3 for named instances too, in order, the unsuffixed key first', () => {
    const config = loadConfig({ OPENAI_API_KEY_3: 'k3', OPENAI_API_KEY: 'k1', OPENAI_API_KEY_2: 'k2', OPENAI_EAST_API_KEY: 'e1', OPENAI_EAST_API_KEY_2: 'e2', GROQ_API_KEY: 'g' });
    const byName = Object.fromEntries(config.providers.map((p) => [p.name, p]));
    expect(byName.openai).toMatchObject({ apiKey: 'k1', apiKeys: ['k1', 'k2', 'k3'] });
    expect(byName['openai-east']).toMatchObject({ apiKey: 'e1', apiKeys: ['e1', 'e2'] });
    expect(byName.groq!.apiKeys).toBeUndefined();
  });

  it('spreads requests over the keys in turn', async () => {
    for (let i = 0; i < 6; i++) expect((await ask('openai-rr')).status).toBe(200);
    expect(new Set(seen.rr!.slice(0, 3))).toEqual(new Set([K('rr-a'), K('rr-b'), K('rr-c')]));
    expect(seen.rr!.slice(3)).toEqual(seen.rr!.slice(0, 3));
  });

  it('rests a key that answers 429 and serves the same request with the next key; later requests skip it', async () => {
    rules.rl = (key) => (key === seen.rl![0] ? { status: 429, headers: { 'retry-after': '120' } } : undefined);
    const reply = await sdk.chat.completions.create({ model: 'openai-rl/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(reply.choices[0]!.message.content).toBe('Hello! How can I help you today?');
    const [rested, next] = seen.rl!;
    expect(seen.rl).toHaveLength(2);
    expect(next).not.toBe(rested);
    for (let i = 0; i < 4; i++) expect((await ask('openai-rl')).status).toBe(200);
    const later = seen.rl!.slice(2);
    expect(later).not.toContain(rested);
    const other = [K('rl-a'), K('rl-b'), K('rl-c')].find((k) => k !== rested && k !== next)!;
    expect(later).toEqual([other, next, other, next]);
  });

  it('moves a stream to the next key when its key answers 429, before the client sees a byte', async () => {
    rules.stream = (key) => (key === seen.stream![0] ? { status: 429 } : undefined);
    const chunks: string[] = [];
    for await (const chunk of await sdk.chat.completions.create({ model: 'openai-stream/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true })) {
      chunks.push(chunk.choices[0]?.delta.content ?? '');
    }
    expect(chunks.join('')).not.toBe('');
    expect(seen.stream).toHaveLength(2);
    expect(new Set(seen.stream)).toEqual(new Set([K('stream-a'), K('stream-b')]));
  });

  it('rests a key answering 401 longer than one answering 429 with a short Retry-After, and logs it once by index and redacted form', async () => {
    rules.auth = (key) => (key === seen.auth![0] ? { status: 401 } : { status: 429, headers: { 'retry-after': '1' } });
    // The first key: 401, rests 10 min; the second: 429, rests 1 s. Both rest: the one rested longest ago answers.
    expect((await ask('openai-auth')).status).toBe(429);
    const [refused, limited] = seen.auth!;
    expect(seen.auth).toHaveLength(2);
    expect(limited).not.toBe(refused);
    rules.auth = (key) => (key === refused ? { status: 401 } : undefined);
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 3; i++) expect((await ask('openai-auth')).status).toBe(200);
    expect(seen.auth!.slice(2)).toEqual([limited, limited, limited]);
    const warnings = lines.filter((l) => l.includes('refused its key'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ provider: 'openai-auth', key: refused === K('auth-a') ? 1 : 2, status: 401, redacted: 'sk-…cdef' });
  });

  it('still tries when every key rests: the one rested longest ago goes first', async () => {
    rules.all = () => ({ status: 429, headers: { 'retry-after': '300' } });
    expect((await ask('openai-all')).status).toBe(429);
    const [first, second] = seen.all!;
    expect(seen.all).toHaveLength(2);
    expect(second).not.toBe(first);
    rules.all = () => undefined;
    expect((await ask('openai-all')).status).toBe(200);
    expect((await ask('openai-all')).status).toBe(200);
    // The first answered, so it no longer rests; the second still does.
    expect(seen.all!.slice(2)).toEqual([first, first]);
  });

  it('rotates Anthropic keys in x-api-key', async () => {
    const res = await realFetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5-20250929', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(seen.anthropic).toHaveLength(2);
    expect(new Set(seen.anthropic)).toEqual(new Set([K('anthropic-a'), K('anthropic-b')]));
  });

  it('writes no key to the log', () => {
    const keys = Object.values(seen).flat();
    expect(keys.length).toBeGreaterThan(10);
    for (const key of new Set(keys)) expect(lines.filter((l) => l.includes(key))).toEqual([]);
  });
});
