import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

// Two gateways (each its own pools, leases and learned reservations) share one PostgreSQL. Each
// scenario has a budget of its own and a provider (a local server, told what to do by the
// request's message) that tries one way past it; rounds of 200 concurrent requests (100 to each
// gateway) run until the budget refuses some, and one more. Budgets hold about half of the first
// round's actual cost, so the first round on a path nothing is known of must already stop in
// time. Every scenario must end with every served request recorded and spend within the amount
// plus one request's actual cost.

type Mode = 'read' | 'drop-after-first-chunk' | 'drop-once-sent';

interface Scenario {
  amount: number;
  mode: Mode;
  body: Record<string, unknown>;
  /** The provider's answer to request number `i`. */
  reply: (res: ServerResponse, body: Record<string, unknown>, i: number) => void;
}

const completion = (model: string, usage: Record<string, number>) => ({
  id: 'chatcmpl-x', object: 'chat.completion', created: 1, model,
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, logprobs: null, finish_reason: 'stop' }],
  usage,
});
const chunk = (delta: Record<string, unknown>, finish: string | null, usage?: Record<string, number>) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
const json = (res: ServerResponse, body: unknown, delayMs: number) =>
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }, delayMs);
const openStream = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: 'Hel' }, null));
};
const normal = { prompt_tokens: 20, completion_tokens: 50, total_tokens: 70 };
const ask = { model: 'gpt-4o-mini', max_tokens: 50 };

// gpt-4o-mini costs $0.15 / $0.60 per million tokens, gpt-4o $2.50 / $10.
const scenarios: Record<string, Scenario> = {
  // The usage comes in the stream's last chunk, 150 ms after the client has gone (33 µ$ each).
  stream_gone: {
    amount: 0.005,
    mode: 'drop-after-first-chunk',
    body: { ...ask, stream: true },
    reply(res) {
      openStream(res);
      setTimeout(() => res.end(chunk({}, 'stop') + chunk({}, null, normal) + 'data: [DONE]\n\n'), 150);
    },
  },
  // No usage ever comes: the provider holds the stream open until the gateway gives up reading.
  stream_silent: { amount: 0.005, mode: 'drop-after-first-chunk', body: { ...ask, stream: true }, reply: openStream },
  // The client leaves once the provider has the request; the reply comes 150 ms later (33 µ$).
  reply_gone: { amount: 0.005, mode: 'drop-once-sent', body: ask, reply: (res) => json(res, completion('gpt-4o-mini', normal), 150) },
  // 128 choices of up to 50 tokens: 3,843 µ$.
  n: {
    amount: 0.4,
    mode: 'read',
    body: { ...ask, n: 128 },
    reply: (res, body) => json(res, completion('gpt-4o-mini', { prompt_tokens: 20, completion_tokens: 50 * (body.n as number), total_tokens: 20 + 50 * (body.n as number) }), 20),
  },
  // The request names a model without a price; the reply names gpt-4o: 550 µ$.
  other_model: { amount: 0.06, mode: 'read', body: { ...ask, model: 'mystery-model' }, reply: (res) => json(res, completion('gpt-4o', normal), 20) },
  // 20,000 input tokens (a document by file id) for a body of 200 bytes: 3,030 µ$.
  big_input: { amount: 0.3, mode: 'read', body: ask, reply: (res) => json(res, completion('gpt-4o-mini', { prompt_tokens: 20_000, completion_tokens: 50, total_tokens: 20_050 }), 20) },
  // Negative and fractional counts, one request in three each.
  bad_usage: {
    amount: 0.005,
    mode: 'read',
    body: ask,
    reply(res, _body, i) {
      const usage = [{ prompt_tokens: -1_000_000, completion_tokens: 50, total_tokens: -999_950 }, { prompt_tokens: 20.5, completion_tokens: 50.5, total_tokens: 71 }, normal][i % 3]!;
      json(res, completion('gpt-4o-mini', usage), 20);
    },
  },
};

/** Replies the scenarios above do not share. */
const oneOff: Record<string, Scenario['reply']> = {
  // Headers and half a body, then the connection drops: the provider has taken (and billed) the request.
  reply_cut(res) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' });
    res.write('{"id":"chatcmpl-cut","choi');
    setTimeout(() => res.destroy(), 20);
  },
};

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let provider: Server;
const gateways: { gateway: Gateway; sql: Sql; spill: string }[] = [];
/** Request ids the provider has received, and who waits for one. */
const arrived = new Map<string, () => void>();

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 2);
  provider = createServer(async (req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: ['gpt-4o-mini', 'mystery-model'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'x' })) }));
    const body = await readBody(req);
    const [name, id] = String((body.messages as { content: string }[])[0]!.content).split(' ') as [string, string];
    arrived.get(id)?.();
    (scenarios[name]?.reply ?? oneOff[name]!)(res, body, Number(id.split('-').pop()));
  }).listen(0, '127.0.0.1');
  // Retries are off, so a keep-alive connection the provider closes for idleness just as a gateway
  // reuses it (between rounds) would be a 502 that has nothing to do with budgets.
  provider.keepAliveTimeout = 120_000;
  await once(provider, 'listening');
  const env: Record<string, string> = {
    PORT: '0',
    POSTGRES_URL: db.url,
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`,
    USAGE_FLUSH_INTERVAL: '100ms',
    RETRY_MAX_RETRIES: '0',
    BUDGET_DRAIN_TIMEOUT: '300ms',
    LOG_LEVEL: 'silent',
  };
  for (const [name, s] of Object.entries(scenarios)) env[`SET_BUDGET_${name.toUpperCase()}`] = `daily=${s.amount}`;
  env.SET_BUDGET_REPLY_CUT = 'daily=1';
  for (let i = 0; i < 2; i++) {
    const spill = await mkdtemp(join(tmpdir(), 'gomodel-overspend-'));
    const config = loadConfig({ ...env, USAGE_SPILL_DIR: spill });
    const own = connect(db.url, 4);
    gateways.push({ gateway: await startGateway(config, { url: db.url, sql: own }, createLogger('silent')), sql: own, spill });
  }
}, 60_000);

afterAll(async () => {
  for (const g of gateways) {
    await g.gateway.close().catch(() => {});
    await g.sql.end({ timeout: 1 });
    await rm(g.spill, { recursive: true, force: true });
  }
  provider.closeAllConnections();
  provider.close();
  await sql.end();
  await db.drop();
});

/** One request as the scenario's client makes it: 'served' once the provider had it, else the gateway's status. */
async function request(url: string, name: string, id: string): Promise<'served' | number> {
  const s = scenarios[name]!;
  const abort = new AbortController();
  const sent = new Promise<void>((resolve) => arrived.set(id, resolve));
  const reply = realFetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-GoModel-User-Path': `/${name}`, 'X-Request-ID': id },
    body: JSON.stringify({ ...s.body, messages: [{ role: 'user', content: `${name} ${id}` }] }),
    signal: abort.signal,
  });
  try {
    if (s.mode === 'drop-once-sent') {
      const first = await Promise.race([reply, sent]);
      if (!first) {
        abort.abort();
        return 'served';
      }
    }
    const res = await reply;
    if (res.status !== 200 || s.mode === 'read') {
      await res.arrayBuffer();
      return res.status === 200 ? 'served' : res.status;
    }
    await res.body!.getReader().read();
    abort.abort();
    return 'served';
  } finally {
    arrived.delete(id);
    reply.catch(() => {});
  }
}

async function rowCount(path: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from usage where user_path = ${path}`;
  return row!.n;
}

for (const name of Object.keys(scenarios)) {
  it(`${name}: spend ends within the budget plus one request's actual cost`, async () => {
    const path = `/${name}`;
    const served = new Set<string>();
    const others: number[] = [];
    let refused = 0;
    // Rounds until the budget refuses some requests, then one more.
    for (let round = 0; round < 6; round++) {
      const refusedBefore = refused;
      await Promise.all(
        gateways.flatMap(({ gateway }, g) =>
          Array.from({ length: 100 }, async (_, i) => {
            const id = `${name}-${round}-${g}-${i}`;
            const status = await request(gateway.url, name, id);
            if (status === 'served') served.add(id);
            else if (status === 429) refused++;
            else others.push(status);
          }),
        ),
      );
      // Requests whose client left are still read on; every served one settles before the next round.
      await expect.poll(() => rowCount(path), { timeout: 10_000, interval: 50 }).toBe(served.size);
      if (refusedBefore) break;
    }
    expect(others).toEqual([]);
    expect(refused).toBeGreaterThan(0);

    const rows = await sql<{ request_id: string; total_cost: string | null; cost_source: string; costs_calculation_caveat: string; raw_data: Record<string, unknown> | null; input_tokens: string }[]>`
      select request_id, total_cost::text, cost_source, costs_calculation_caveat, raw_data, input_tokens::text from usage where user_path = ${path}`;
    expect(new Set(rows.map((r) => r.request_id))).toEqual(served);
    expect(rows.filter((r) => r.total_cost === null || Number(r.total_cost) < 0)).toEqual([]);
    const [budget] = await sql<{ amount: string; spent: string; exact: boolean; overshoot: string; largest: string }[]>`
      select b.amount::text, b.spent::text, b.spent = u.total as exact, (b.spent - b.amount)::text as overshoot, u.largest::text
        from budgets b, (select sum(total_cost) as total, max(total_cost) as largest from usage where user_path = ${path}) u
       where b.user_path = ${path}`;
    expect(budget!.exact).toBe(true);
    console.info(`${name}: ${served.size} served, ${refused} refused; spent $${budget!.spent} of $${budget!.amount} (over by $${budget!.overshoot}; one request costs up to $${budget!.largest})`);
    expect(Number(budget!.spent)).toBeLessThanOrEqual(Number(budget!.amount) + Number(budget!.largest));
    // and the budget was used, not refused early
    expect(Number(budget!.spent)).toBeGreaterThan(Number(budget!.amount) * 0.8);

    if (name === 'stream_gone' || name === 'reply_gone') {
      // Charged what the provider reported after the client left (a client slower than 150 ms to leave saw the whole reply).
      expect(rows.every((r) => r.cost_source === 'model_pricing' && r.total_cost === '0.000033')).toBe(true);
      expect(rows.filter((r) => r.costs_calculation_caveat.startsWith('client disconnected before')).length).toBeGreaterThan(served.size / 2);
    }
    if (name === 'stream_silent') {
      expect(rows.every((r) => r.cost_source === 'budget_reservation' && r.costs_calculation_caveat.includes('usage unknown: charged its budget reservation'))).toBe(true);
    }
    if (name === 'bad_usage') {
      const negative = rows.filter((r) => (r.raw_data?.invalid_usage as { input_tokens?: number } | undefined)?.input_tokens === -1_000_000);
      const fractional = rows.filter((r) => (r.raw_data?.invalid_usage as { input_tokens?: number } | undefined)?.input_tokens === 20.5);
      // A third of the replies each (a few fewer when the budget stops a round part-way).
      expect(negative.length).toBeGreaterThanOrEqual(Math.floor(served.size / 4));
      expect(fractional.length).toBeGreaterThanOrEqual(Math.floor(served.size / 4));
      expect(negative.every((r) => r.input_tokens === '0' && r.total_cost === '0.00003')).toBe(true);
      expect(fractional.every((r) => r.input_tokens === '21' && r.total_cost === '0.00003375')).toBe(true);
      expect([...negative, ...fractional].every((r) => r.costs_calculation_caveat.startsWith('provider reported invalid token counts'))).toBe(true);
    }
  }, 30_000);
}

it('charges its reservation when the reply is lost after the provider took the request', async () => {
  const res = await realFetch(`${gateways[0]!.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-GoModel-User-Path': '/reply_cut' },
    body: JSON.stringify({ ...ask, messages: [{ role: 'user', content: 'reply_cut cut-0' }] }),
  });
  expect(res.status).toBe(502);
  expect(await res.json()).toMatchObject({ error: { code: 'upstream_interrupted' } });
  await expect.poll(() => rowCount('/reply_cut')).toBe(1);
  // 48 input tokens (its 96 bytes) × $0.15 + 50 output × $0.60 per million: what the request reserved.
  const [row] = await sql`select total_cost::text, cost_source, costs_calculation_caveat from usage where user_path = '/reply_cut'`;
  expect({ ...row }).toEqual({
    total_cost: '0.0000372',
    cost_source: 'budget_reservation',
    costs_calculation_caveat: 'no reply: provider openai dropped the connection mid-reply; usage unknown: charged its budget reservation',
  });
  await expect.poll(async () => (await sql`select spent::text from budgets where user_path = '/reply_cut'`)[0]!.spent).toBe('0.0000372');
});
