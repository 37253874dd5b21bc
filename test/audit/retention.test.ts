import { afterAll, beforeAll, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

const OPENAI = 'https://api.openai.com/v1';
const DAY = 86_400_000;
const msw = mockProviders();
let gw: TestGateway;

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`${OPENAI}/chat/completions`, () => HttpResponse.json(jsonFixture('openai/chat.json'))),
  );
  gw = await startTestGateway({ OPENAI_API_KEY: 'sk-upstream-audit-key-000000000000', AUDIT_RETENTION: '2d', USAGE_FLUSH_INTERVAL: '50ms' });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

const day = (offset: number) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10).replaceAll('-', '');
const partitions = async () =>
  (await gw.sql<{ name: string }[]>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit_log'::regclass`).map((r) => r.name);

/** A copy of the entry of `requestId`, `daysAgo` old. */
const backdate = (requestId: string, copyId: string, daysAgo: number) => gw.sql`
  insert into audit_log select (jsonb_populate_record(null::audit_log, to_jsonb(a) || jsonb_build_object(
    'id', gen_random_uuid(), 'request_id', ${copyId}::text, 'timestamp', now() - make_interval(days => ${daysAgo}::int)))).*
  from audit_log a where a.request_id = ${requestId}`;

it('AUDIT_RETENTION drops whole day partitions past it, and old stragglers, keeping every newer entry', async () => {
  const res = await realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'fresh' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  await res.json();
  await expect.poll(async () => (await gw.sql`select 1 from audit_log where request_id = 'fresh'`).length).toBe(1);

  // Day partitions three days back, as a gateway running since then would have made them.
  await gw.sql`select gomodel_maintain_partitions('audit_log'::regclass, 'timestamp', 'day', 3, 0, null)`;
  expect(await partitions()).toContain(`audit_log_p${day(-3)}`);
  await backdate('fresh', 'three-days-old', 3);
  await backdate('fresh', 'ten-days-old', 10); // older than every partition: in the default one
  await backdate('fresh', 'yesterday', 1);

  await gw.partitions.maintain();
  expect(await partitions()).not.toContain(`audit_log_p${day(-3)}`);
  expect(await partitions()).toContain(`audit_log_p${day(-1)}`);
  const left = (await gw.sql<{ request_id: string }[]>`select request_id from audit_log order by request_id`).map((r) => r.request_id);
  expect(left).toEqual(['fresh', 'yesterday']);
  const { data } = await admin.getAuditLog({ client: gw.client, query: { days: 30 } });
  expect(data?.entries?.map((e) => e.request_id).sort()).toEqual(['fresh', 'yesterday']);
});
