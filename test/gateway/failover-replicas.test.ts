import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { processRig, spawnGateway, untilListening, type ChildGateway, type ProcessRig } from '../support/child-gateway.ts';
import { freePort } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

// Two gateway processes share one PostgreSQL: a failover rule stored through one must route the
// other's requests within a second.
let rig: ProcessRig;
let a: ChildGateway;
let b: ChildGateway;

beforeAll(async () => {
  rig = await processRig();
  const dead = `http://127.0.0.1:${await freePort()}/v1`;
  const replica = async (name: string) => {
    const g = await spawnGateway({
      ...rig.env,
      GOMODEL_DATA_DIR: join(rig.env.GOMODEL_DATA_DIR!, name),
      OPENAI_DEAD_BASE_URL: dead,
      OPENAI_DEAD_MODELS: 'gpt-4o-mini',
      RETRY_MAX_RETRIES: '0',
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: '1000',
      LOG_LEVEL: 'info',
    });
    await untilListening(g);
    return g;
  };
  [a, b] = await Promise.all([replica('a'), replica('b')]);
}, 60_000);

afterAll(() => rig.stop());

async function chat(g: ChildGateway): Promise<Response> {
  return realFetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'openai-dead/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
}

async function admin(g: ChildGateway, method: string, path: string, body: unknown): Promise<number> {
  const res = await realFetch(`${g.url}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Milliseconds until `g` answers the dead model with `status` (polled every 10 ms); fails past 1 s. */
async function untilAnswers(g: ChildGateway, status: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const res = await chat(g);
    await res.arrayBuffer();
    if (res.status === status) return Date.now() - start;
    if (Date.now() - start > 1000) throw new Error(`${g.url} did not answer ${status} within a second`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('a failover rule stored or deleted through one process routes the other within a second', async () => {
  expect((await chat(b)).status).toBe(502);
  expect(await admin(a, 'PUT', '/admin/failover', { primary_model: 'openai-dead/gpt-4o-mini', fallback_models: ['openai/gpt-4o-mini'] })).toBe(200);
  expect(await untilAnswers(b, 200)).toBeLessThan(1000);
  const res = await chat(b);
  expect([res.status, res.headers.get('x-gomodel-provider')]).toEqual([200, 'openai']);
  await res.arrayBuffer();
  // The access-log line names the model that answered and every attempt.
  const id = res.headers.get('x-request-id');
  const lineOf = () => b.output().split('\n').find((l) => l.includes('"proxied"') && l.includes(`"${id}"`));
  await expect.poll(lineOf).toBeDefined();
  expect(JSON.parse(lineOf()!)).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', status: 200, requested: 'openai-dead/gpt-4o-mini', attempts: 2, tried: ['openai-dead/gpt-4o-mini', 'openai/gpt-4o-mini'] });

  expect(await admin(a, 'DELETE', '/admin/failover', { primary_model: 'openai-dead/gpt-4o-mini' })).toBe(204);
  expect(await untilAnswers(b, 502)).toBeLessThan(1000);
});
