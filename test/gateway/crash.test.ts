import { afterAll, beforeAll, expect, it } from 'vitest';
import { processRig, spawnGateway, untilListening, type ChildGateway, type ProcessRig } from '../support/child-gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

// Gateway processes under load are killed with SIGKILL at random moments, with the database up
// and with it cut off (through a proxy the test controls); the next process starts at once, as a
// supervisor would start it, while the killed one may not have been reaped yet.

let rig: ProcessRig;
beforeAll(async () => {
  rig = await processRig(10);
});
afterAll(() => rig.stop());

const start = () => spawnGateway(rig.env);

/** One request; true when the client received the whole response. */
async function ask(gw: ChildGateway, id: string, stream: boolean): Promise<boolean> {
  try {
    const res = await realFetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-ID': id },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream }),
    });
    const text = await res.text();
    if (res.status !== 200) return false;
    return stream ? text.endsWith('data: [DONE]\n\n') : (JSON.parse(text) as { choices: unknown[] }).choices.length === 1;
  } catch {
    return false;
  }
}

it('keeps a row and an audit entry for every answered request through SIGKILLs under load, with the database up and cut off', async () => {
  const sent = new Set<string>();
  const answered = new Set<string>();
  const rounds = ['up', 'down', 'up', 'down', 'up', 'down'] as const;
  let gw = await start();
  for (const [round, database] of rounds.entries()) {
    await untilListening(gw);
    if (database === 'down') rig.proxy.cut();
    let n = 0;
    let killed = false;
    const client = async (c: number) => {
      while (!killed) {
        const id = `crash-${round}-${c}-${n++}`;
        sent.add(id);
        if (await ask(gw, id, n % 3 === 0)) answered.add(id);
      }
    };
    const clients = Array.from({ length: 12 }, (_, c) => client(c));
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 900));
    gw.proc.kill('SIGKILL');
    killed = true;
    const dead = gw;
    rig.proxy.restore();
    gw = await start();
    await Promise.all(clients);
    await dead.exited;
  }
  await untilListening(gw);

  const missing = async () => {
    const ids = new Set((await rig.sql<{ request_id: string }[]>`select request_id from usage`).map((r) => r.request_id));
    return [...answered].filter((id) => !ids.has(id)).length;
  };
  await expect.poll(missing, { timeout: 20_000, interval: 250 }).toBe(0);
  // Not proc.kill: Deno's reports a child that handled the signal and exited 0 as killed by it.
  process.kill(gw.proc.pid!, 'SIGTERM');
  expect(await gw.exited).toBe(0);

  const rows = await rig.sql<{ request_id: string }[]>`select request_id from usage`;
  const ids = new Set(rows.map((r) => r.request_id));
  expect(rows.length).toBe(ids.size); // no request recorded twice
  expect([...answered].filter((id) => !ids.has(id))).toEqual([]); // every answered request recorded
  expect([...ids].filter((id) => !sent.has(id))).toEqual([]);
  // Rows beyond the answered requests are those a kill interrupted after their row was journaled.
  expect(answered.size).toBeGreaterThan(rounds.length * 20);

  // Every answered request has one audit entry too; an entry written with its usage row went into
  // the same transaction, so no 200 entry is without its row.
  const audited = await rig.sql<{ request_id: string; n: number }[]>`select request_id, count(*)::int as n from audit_log group by 1`;
  expect(audited.filter((r) => r.n > 1)).toEqual([]);
  const auditIds = new Set(audited.map((r) => r.request_id));
  expect([...answered].filter((id) => !auditIds.has(id))).toEqual([]);
  expect(await rig.sql`select request_id from audit_log a where status_code = 200 and not exists (select 1 from usage u where u.request_id = a.request_id)`).toEqual([]);

  const [raw] = await rig.sql`select count(*)::bigint as requests, sum(input_tokens)::bigint as input, sum(output_tokens)::bigint as output, sum(total_cost) as cost from usage`;
  const [rolled] = await rig.sql`select sum(requests)::bigint as requests, sum(input_tokens)::bigint as input, sum(output_tokens)::bigint as output, sum(total_cost) as cost from usage_totals_daily`;
  expect(rolled).toEqual(raw);
  const [byModel] = await rig.sql`select sum(requests)::bigint as requests, sum(total_cost) as cost from usage_model_hourly`;
  expect(byModel).toEqual({ requests: raw!.requests, cost: raw!.cost });
}, 120_000);
