import { afterAll, beforeAll, expect, it } from 'vitest';
import spec from '../../openapi.json' with { type: 'json' };
import { assertDocumentedResponse } from '../support/contract.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';
import { rng } from '../../bench/analytics/rows.ts';

/**
 * Hostile input against every operation of openapi.json, generated from the contract when the test
 * runs: each query parameter, header parameter and body field (found by walking the request
 * schema) in turn takes each value of a hostile set (numbers past every bound, exponents, 1e400,
 * NUL and control characters, 10 kB strings, far dates, wrong types, nesting 10,000 deep), and
 * every body is also sent empty, malformed, as another type and with other content types. Then
 * seeded random requests with several hostile fields at once. Every answer must be a 2xx or a
 * 4xx that openapi.json documents, in the error envelope of its API, within the timeout; and the
 * gateway must answer /health at the end. FUZZ_SEED replays another random part.
 */

const KEY = 'sk-fuzz';
const SEED = Number(process.env.FUZZ_SEED ?? 24);
const RANDOM_PER_OPERATION = 10;
const CONCURRENCY = 6;
const TIMEOUT_MS = 10_000;

type Schema = Record<string, unknown>;
type Operation = { operationId: string; parameters?: Schema[]; requestBody?: { content: Record<string, { schema: Schema }> }; responses?: Record<string, unknown> };

const msw = mockProviders();
let gw: TestGateway;

beforeAll(async () => {
  msw.use(
    http.get('https://api.openai.com/v1/models', () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post('https://api.openai.com/v1/chat/completions', async ({ request }) =>
      /"stream"\s*:\s*true/.test(await request.text()) ? sseResponse(fixture('openai/stream.sse')) : HttpResponse.json(jsonFixture('openai/chat.json')),
    ),
    http.post('https://api.openai.com/v1/embeddings', () => HttpResponse.json(jsonFixture('openai/embeddings.json'))),
    http.post('https://api.openai.com/v1/responses', async ({ request }) =>
      /"stream"\s*:\s*true/.test(await request.text()) ? sseResponse(fixture('openai/responses-stream.sse')) : HttpResponse.json(jsonFixture('openai/responses.json')),
    ),
    http.post('https://api.openai.com/v1/responses/input_tokens', () => HttpResponse.json(jsonFixture('openai/responses-input-tokens.json'))),
    http.get('https://api.openai.com/v1/responses/:id/input_items', () => HttpResponse.json({ object: 'list', data: [], first_id: null, last_id: null, has_more: false })),
    http.post('https://api.openai.com/v1/responses/:id/cancel', () => HttpResponse.json(jsonFixture('openai/responses.json'))),
    http.get('https://api.openai.com/v1/responses/:id', () => HttpResponse.json(jsonFixture('openai/responses.json'))),
    http.delete('https://api.openai.com/v1/responses/:id', () => HttpResponse.json(jsonFixture('openai/responses-deleted.json'))),
    // Passthrough reaches any path: OpenAI answers one it does not have with a 404.
    http.all('https://api.openai.com/*', () => HttpResponse.json({ error: { message: 'Invalid URL', type: 'invalid_request_error', param: null, code: null } }, { status: 404 })),
  );
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: KEY, OPENAI_API_KEY: 'sk-test', SET_BUDGET_: 'daily=1000', BODY_SIZE_LIMIT: '64K', GOMODEL_CREDENTIALS_KEY: '0'.repeat(64) });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});


const DEEP = 10_000;
/** Raw JSON text, inserted as is: numbers no double holds, and nesting JSON.stringify could not write. */
class Raw {
  constructor(readonly text: string) {}
}
const deepJson = new Raw(`${'['.repeat(DEEP)}${']'.repeat(DEEP)}`);
const hugeNumbers = ['1e30', '9223372036854775807', '99999999999999999999', '1e400', '-1e400', '2147483648', '-1', '0', '1.5'];
const someNumbers = ['1e400', '-1'];
const hostileStrings = ['', ' ', 'a\u0000b', '\u0001\u0008\u001b\u007f', '\r\n\t', 'x'.repeat(10_000), '\ud800', "../../' or 1=1 --", '\u{1D54F}'.repeat(500)];
const someStrings = ['', 'a\u0000b', 'x'.repeat(10_000)];
const farDates = ['9999-12-31', '0000-01-01', '2026-02-30', '2999-01-01', '+275760-09-13'];
const wrongTypes = [true, null, [], {}, 'text', 123];

type Kind = 'number' | 'string' | 'other';
const kindOf = (s: Schema): Kind => (s.type === 'integer' || s.type === 'number' ? 'number' : s.type === 'string' ? 'string' : 'other');

/** Hostile values for a JSON body field, the more of them the closer they are to its type. */
const bodyValues: Record<Kind, unknown[]> = {
  number: [...hugeNumbers.map((n) => new Raw(n)), ...someStrings, ...wrongTypes, deepJson],
  string: [...hostileStrings, ...someNumbers.map((n) => new Raw(n)), ...wrongTypes, deepJson],
  other: [...someStrings, ...someNumbers.map((n) => new Raw(n)), ...wrongTypes, deepJson],
};
/** Hostile values for a query parameter (as text; a list is the parameter repeated). */
const queryValues: Record<Kind, (string | string[])[]> = {
  number: [...hugeNumbers, 'NaN', 'Infinity', '0x10', ' 1', ...someStrings, 'true', ['1', '2'], '['.repeat(2000)],
  string: [...hostileStrings, ...farDates, ...someNumbers, 'true', ['a', 'b'], '['.repeat(2000)],
  other: [...someStrings, ...someNumbers],
};
/** Header values a client can send (HTTP forbids NUL, CR and LF in them). */
const headerValues = ['', 'x'.repeat(8000), 'Mars/Olympus_Mons', '../..', '/a:b', '\t/a\t', '+99:99', 'Etc/GMT+14', '%00', 'UTC, Europe/Warsaw', '\u00ff\u00fe'];

const deref = (node: unknown): Schema => {
  let n = node as Schema;
  while (typeof n?.$ref === 'string') {
    n = (n.$ref as string)
      .slice(2)
      .split('/')
      .reduce<unknown>((acc, key) => (acc as Record<string, unknown>)[key], spec) as Schema;
  }
  return n;
};

/** A valid value for a schema: its example, else one built from its required properties. */
function sample(node: unknown): unknown {
  const s = deref(node);
  if (s.example !== undefined) return structuredClone(s.example);
  if (Array.isArray(s.enum)) return s.enum[0];
  if (s.type === 'object' || s.properties) {
    const out: Record<string, unknown> = {};
    for (const [name, prop] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
      if ((s.required as string[] | undefined)?.includes(name) || deref(prop).example !== undefined) out[name] = sample(prop);
    }
    return out;
  }
  if (s.type === 'array') return [sample(s.items)];
  if (s.type === 'integer' || s.type === 'number') return (s.minimum as number | undefined) ?? 1;
  if (s.type === 'boolean') return false;
  return 'x';
}

/** The value with every boolean property the schema declares set to true (streams, usage in streams). */
function withBooleans(node: unknown, value: unknown): unknown {
  const s = deref(node);
  if (!s.properties || typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out = { ...(value as Record<string, unknown>) };
  for (const [name, prop] of Object.entries(s.properties as Record<string, Schema>)) {
    const p = deref(prop);
    if (p.type === 'boolean') out[name] = true;
    else if (p.properties && p.type === 'object') out[name] = withBooleans(p, out[name] ?? {});
  }
  return out;
}

type Path = (string | number)[];

/** Every field the schema describes: object properties, and the first item of arrays of objects. */
function fieldPaths(node: unknown, at: Path = [], seen = new Set<Schema>()): Path[] {
  const s = deref(node);
  if (seen.has(s)) return [];
  const inner = new Set(seen).add(s);
  const out: Path[] = [];
  for (const [name, prop] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
    out.push([...at, name], ...fieldPaths(prop, [...at, name], inner));
  }
  if (s.type === 'array' && s.items) out.push(...fieldPaths(s.items, [...at, 0], inner));
  return out;
}

function schemaAt(node: unknown, path: Path): Schema {
  return path.reduce<Schema>((s, key) => deref(typeof key === 'number' ? s.items : (s.properties as Record<string, Schema>)[key]), deref(node));
}

function setAt(value: unknown, path: Path, leaf: unknown): unknown {
  if (path.length === 0) return leaf;
  const [key, ...rest] = path;
  const container = (typeof key === 'number' ? (Array.isArray(value) ? [...value] : []) : value && typeof value === 'object' && !Array.isArray(value) ? { ...value } : {}) as Record<string | number, unknown>;
  container[key!] = setAt(container[key!], rest, leaf);
  return container;
}

/** JSON text of a body whose leaves may be Raw text. */
function bodyText(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => (v instanceof Raw ? `\u0000raw${raws.push(v.text) - 1}\u0000` : v));
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

interface Case {
  method: string;
  /** The operation's path in openapi.json. */
  path: string;
  /** The path sent (the operation's, or it with a trailing slash). */
  url: string;
  query: [string, string][];
  headers: Record<string, string>;
  body?: string;
  what: string;
}

const describeValue = (v: unknown) => {
  const text = v instanceof Raw ? v.text : typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}… (${text.length} chars)` : text;
};

/** The cases of one operation. */
function operationCases(path: string, method: string, op: Operation, rand: () => number): Case[] {
  const params = (op.parameters ?? []).map(deref) as { name: string; in: string; required?: boolean; schema: Schema }[];
  const query = params.filter((p) => p.in === 'query');
  const headerParams = params.filter((p) => p.in === 'header');
  const baseQuery: [string, string][] = query.filter((p) => p.required).map((p) => [p.name, String(sample(p.schema))]);
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  const baseBodies = bodySchema ? [...new Set([JSON.stringify(sample(bodySchema)), JSON.stringify(withBooleans(bodySchema, sample(bodySchema)))])].map((t) => JSON.parse(t) as unknown) : [undefined];
  const json = { 'Content-Type': 'application/json' };
  const base = (what: string): Case => ({
    method: method.toUpperCase(),
    path,
    url: path,
    query: [...baseQuery],
    headers: bodySchema ? { ...json } : {},
    body: bodySchema ? bodyText(baseBodies[0]) : undefined,
    what,
  });
  const cases: Case[] = [base('the sample request'), { ...base('the sample request, trailing slash'), url: `${path}/` }];

  for (const p of query) {
    for (const v of queryValues[kindOf(deref(p.schema))]) {
      const values = Array.isArray(v) ? v : [v];
      cases.push({ ...base(`query ${p.name}=${describeValue(v)}`), query: [...baseQuery.filter(([n]) => n !== p.name), ...values.map((x): [string, string] => [p.name, x])] });
    }
  }
  for (const p of headerParams) for (const v of headerValues) cases.push({ ...base(`header ${p.name}: ${describeValue(v)}`), headers: { ...base('').headers, [p.name]: v } });

  if (bodySchema) {
    const paths = fieldPaths(bodySchema);
    for (const start of baseBodies) {
      for (const field of paths) {
        for (const v of bodyValues[kindOf(deref(schemaAt(bodySchema, field)))]) cases.push({ ...base(`body ${field.join('.')} = ${describeValue(v)}`), body: bodyText(setAt(start, field, v)) });
      }
    }
    const wholeBodies: [string, string | undefined, Record<string, string>][] = [
      ['no body', undefined, json],
      ['empty JSON body', '', json],
      ['malformed JSON', '{"a":', json],
      ['JSON with a trailing comma', '{"a":1,}', json],
      ['a UTF-16 byte order mark', '\ufeff{}', json],
      ['null', 'null', json],
      ['an array', '[]', json],
      ['a string', '"x"', json],
      ['a number', '1e400', json],
      ['nesting 10,000 deep', deepJson.text, json],
      ['text/plain', bodyText(baseBodies[0]), { 'Content-Type': 'text/plain' }],
      ['a form', 'a=1', { 'Content-Type': 'application/x-www-form-urlencoded' }],
      ['no content type', bodyText(baseBodies[0]), {}],
      ['an unknown charset', bodyText(baseBodies[0]), { 'Content-Type': 'application/json; charset=klingon' }],
    ];
    for (const [what, body, headers] of wholeBodies) cases.push({ ...base(`body: ${what}`), body, headers });
  }

  // Several hostile fields at once, drawn with the seed.
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const paths = bodySchema ? fieldPaths(bodySchema) : [];
  for (let i = 0; i < RANDOM_PER_OPERATION; i++) {
    const c = base(`random #${i} (seed ${SEED})`);
    const parts: string[] = [];
    for (const p of query) {
      if (rand() < 0.5) continue;
      const v = pick(queryValues[kindOf(deref(p.schema))]);
      c.query = [...c.query.filter(([n]) => n !== p.name), ...(Array.isArray(v) ? v : [v]).map((x): [string, string] => [p.name, x])];
      parts.push(`${p.name}=${describeValue(v)}`);
    }
    if (bodySchema) {
      let body = pick(baseBodies);
      for (const field of paths) {
        if (rand() < 0.7) continue;
        const v = pick(bodyValues[kindOf(deref(schemaAt(bodySchema, field)))]);
        body = setAt(body, field, v);
        parts.push(`${field.join('.')}=${describeValue(v)}`);
      }
      c.body = bodyText(body);
    }
    c.what += `: ${parts.join(', ') || 'no change'}`;
    cases.push(c);
  }
  return cases;
}

function allCases(): Case[] {
  const rand = rng(SEED);
  const cases: Case[] = [];
  for (const [path, item] of Object.entries(spec.paths as Record<string, Record<string, Operation>>)) {
    for (const [method, op] of Object.entries(item)) cases.push(...operationCases(path, method, op, rand));
  }
  return cases;
}

/** What is wrong with the answer to a case, or null. */
async function check(c: Case): Promise<string | null> {
  const qs = new URLSearchParams(c.query).toString();
  let res: Response;
  try {
    res = await realFetch(`${gw.url}${c.url}${qs ? `?${qs}` : ''}`, {
      method: c.method,
      headers: { Authorization: `Bearer ${KEY}`, ...c.headers },
      body: c.body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    return `no answer: ${(err as Error).message}`;
  }
  const text = await res.text();
  if (res.status >= 500) return `status ${res.status}: ${text.slice(0, 300)}`;
  if (res.status < 200) return `status ${res.status}`;
  const documented = (spec.paths as Record<string, Record<string, Operation>>)[c.path]?.[c.method.toLowerCase()]?.responses;
  if (res.status === 204 && text === '' && documented && '204' in documented) return null;
  if (!res.headers.get('content-type')?.startsWith('application/json')) {
    return res.status < 300 && res.headers.get('content-type')?.startsWith('text/event-stream') ? null : `status ${res.status} with content-type ${res.headers.get('content-type')}`;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `status ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (res.status >= 400) {
    const admin = c.path.startsWith('/admin');
    const e = (admin ? body : (body as { error?: unknown }).error) as { type?: unknown; message?: unknown; status_code?: unknown } | undefined;
    if (typeof e?.type !== 'string' || typeof e.message !== 'string' || (admin && e.status_code !== res.status)) return `status ${res.status} outside the error envelope: ${text.slice(0, 200)}`;
  }
  try {
    assertDocumentedResponse(c.method, c.path, res.status, body);
  } catch (err) {
    return (err as Error).message.slice(0, 400);
  }
  return null;
}

it('answers hostile input on every operation with a 2xx or a documented 4xx, never a 5xx or a hang', { timeout: 120_000 }, async () => {
  const cases = allCases();
  const failures: string[] = [];
  let sent = 0;
  let serverErrors = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const problem = await check(c);
        sent++;
        if (problem?.startsWith('status 5')) serverErrors++;
        if (problem) failures.push(`${c.method} ${c.url} (${c.what}): ${problem}`);
      }
    }),
  );
  console.log(`fuzz cases sent: ${sent}, 5xx: ${serverErrors} (seed ${SEED})`);
  expect(failures.slice(0, 30)).toEqual([]);
  expect((await realFetch(`${gw.url}/health`)).status).toBe(200);
  expect(sent).toBe(cases.length);
});
