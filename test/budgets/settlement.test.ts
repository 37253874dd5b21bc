import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, mockProviders } from '../support/providers.ts';
import { usageRow } from '../support/usage-rows.ts';

// A batch of usage rows settles in PostgreSQL (the usage_settle_budgets trigger): each row's cost
// goes to every budget at or above its path whose period it falls in, and what its request
// reserved leaves the lease of each of those budgets.

const msw = mockProviders();
let gw: TestGateway;

beforeAll(async () => {
  msw.use(http.get('https://api.openai.com/v1/models', () => HttpResponse.json({ object: 'list', data: [] })));
  gw = await startTestGateway({ OPENAI_API_KEY: 'sk-test' });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

it('settles one batch against every budget above each row, once per budget', async () => {
  const lease = randomUUID();
  const periodStart = new Date(Date.now() - 3_600_000);
  for (const path of ['/acme', '/acme/search', '/globex']) {
    await gw.sql`insert into budgets (user_path, period_seconds, amount, source, period_start, spent, reserved)
                 values (${path}, 86400, 10, 'manual', ${periodStart}, 0, ${path === '/globex' ? 0 : 1})`;
  }
  for (const path of ['/acme', '/acme/search']) {
    await gw.sql`insert into budget_reservations (id, user_path, period_seconds, amount, expires_at)
                 values (${lease}, ${path}, 86400, 1, now() + interval '1 hour')`;
  }
  const reserved = (amount: string) => ({ budget_reservation_id: lease, budget_reserved: amount });
  const rows = [
    usageRow({ user_path: '/acme/search/api', total_cost: '0.01', ...reserved('0.02') }),
    usageRow({ user_path: '/acme/search', total_cost: '0.02', ...reserved('0.03') }),
    usageRow({ user_path: '/acme', total_cost: '0.04', ...reserved('0.05') }),
    // Cache hits cost nothing against budgets.
    usageRow({ user_path: '/acme/search/api', cache_type: 'exact', total_cost: '0.5' }),
    // Before the period began: not this period's spend.
    usageRow({ user_path: '/acme/x', timestamp: new Date(periodStart.getTime() - 60_000), total_cost: '1' }),
    // A sibling whose name only starts like a budgeted path.
    usageRow({ user_path: '/acme-x', total_cost: '2' }),
    usageRow({ user_path: '/globex/a', total_cost: '0.08' }),
    usageRow({ user_path: '/globex/a', total_cost: null, input_cost: null, output_cost: null }),
  ];
  for (const r of rows) gw.recorder.record(r);
  await gw.recorder.flush();
  expect(gw.recorder.stats.written).toBeGreaterThanOrEqual(rows.length);

  const budgets = await gw.sql`select user_path, spent::text, reserved::text from budgets order by user_path`;
  expect(budgets.map((b) => ({ ...b }))).toEqual([
    { user_path: '/acme', spent: '0.07', reserved: '0.90' },
    { user_path: '/acme/search', spent: '0.03', reserved: '0.95' },
    { user_path: '/globex', spent: '0.08', reserved: '0' },
  ]);
  const leases = await gw.sql`select user_path, amount::text from budget_reservations where id = ${lease} order by user_path`;
  expect(leases.map((l) => ({ ...l }))).toEqual([
    { user_path: '/acme', amount: '0.90' },
    { user_path: '/acme/search', amount: '0.95' },
  ]);
});
