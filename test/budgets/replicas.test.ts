import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { freePort, spawnGateway } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

// Two gateway processes share one PostgreSQL and one small budget; a local provider on loopback
// (other processes cannot be intercepted by msw) answers every request after 50 ms with
// 20 prompt + 50 completion tokens of gpt-4o-mini: 33 µ$ each.
const ACTUAL = 0.000033;
const AMOUNT = 0.002;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let provider: Server;
let dir: string;
const gateways: { proc: ChildProcess; url: string }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 2);
  dir = await mkdtemp(join(tmpdir(), 'gomodel-replicas-'));
  provider = createServer((req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'x' }] }));
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-r', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 20, completion_tokens: 50, total_tokens: 70 },
      }));
    }, 50);
  }).listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`;
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const proc = spawnGateway({
      PORT: String(port),
      POSTGRES_URL: db.url,
      OPENAI_BASE_URL: base,
      GOMODEL_MASTER_KEY: 'k',
      GOMODEL_DATA_DIR: join(dir, name),
      USAGE_FLUSH_INTERVAL: '100ms',
      SET_BUDGET_SHARED: `daily=${AMOUNT}`,
      LOG_LEVEL: 'error',
    });
    gateways.push({ proc, url: `http://127.0.0.1:${port}` });
  }
  for (const g of gateways) {
    const deadline = Date.now() + 30_000;
    while ((await realFetch(`${g.url}/health/ready`).then((r) => r.status).catch(() => 0)) !== 200) {
      if (Date.now() > deadline) throw new Error(`gateway ${g.url} did not become ready`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}, 60_000);

afterAll(async () => {
  for (const g of gateways) if (g.proc.exitCode === null) g.proc.kill('SIGKILL');
  provider.close();
  await sql.end();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

/** One request; max_tokens 50 makes the reservation (36.3 µ$) close to the actual cost. */
async function request(url: string, id: string): Promise<number> {
  const res = await realFetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: 'Bearer k', 'Content-Type': 'application/json', 'X-GoModel-User-Path': '/shared/app', 'X-Request-ID': id },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 }),
  });
  await res.arrayBuffer();
  return res.status;
}

it('two gateways enforce one budget together: no overspend, every request served and recorded or refused', async () => {
  const statuses = new Map<string, number>();
  for (const round of [1, 2, 3]) {
    await Promise.all(
      gateways.flatMap((g, gi) =>
        Array.from({ length: 100 }, async (_, i) => {
          const id = `replica-${round}-${gi}-${i}`;
          statuses.set(id, await request(g.url, id));
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 300)); // let usage rows settle their reservations
  }
  for (const g of gateways) {
    process.kill(g.proc.pid!, 'SIGTERM');
    await once(g.proc, 'exit');
  }

  const counts = { served: 0, refused: 0, other: 0 };
  for (const s of statuses.values()) counts[s === 200 ? 'served' : s === 429 ? 'refused' : 'other']++;
  expect(counts.other).toBe(0);
  expect(counts.served).toBeGreaterThan(0);
  expect(counts.refused).toBeGreaterThan(0);

  const rows = await sql<{ request_id: string }[]>`select request_id from usage where user_path = '/shared/app'`;
  const recorded = new Set(rows.map((r) => r.request_id));
  const served = [...statuses].filter(([, s]) => s === 200).map(([id]) => id);
  expect(rows.length).toBe(served.length);
  expect(served.every((id) => recorded.has(id))).toBe(true);

  const [budget] = await sql<{ spent: string; reserved: string }[]>`select spent, reserved from budgets where user_path = '/shared'`;
  const [usage] = await sql<{ total: string }[]>`select sum(total_cost) as total from usage where user_path like '/shared%'`;
  expect(Number(budget!.spent)).toBe(Number(usage!.total));
  expect(Number(budget!.reserved)).toBe(0);
  expect(Number(budget!.spent)).toBeLessThanOrEqual(AMOUNT + ACTUAL);
  // and the budget was used, not just refused: less than two requests' worth was left over
  expect(Number(budget!.spent)).toBeGreaterThan(AMOUNT - 2 * ACTUAL);
  expect(served.length).toBe(Math.round(Number(budget!.spent) / ACTUAL));
}, 120_000);
