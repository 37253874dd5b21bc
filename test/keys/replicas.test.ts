import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { processRig, spawnGateway, untilListening, type ChildGateway, type ProcessRig } from '../support/child-gateway.ts';
import { terminate } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

// Two gateway processes share one PostgreSQL (behind a TCP proxy the test controls) and a local
// provider. A change of a key made through one must hold on the other within a second; a rate
// limit must hold for both together.
const MASTER = 'k-replicas';
let rig: ProcessRig;
let a: ChildGateway;
let b: ChildGateway;

async function replica(name: string): Promise<ChildGateway> {
  const g = await spawnGateway({ ...rig.env, GOMODEL_DATA_DIR: join(rig.env.GOMODEL_DATA_DIR!, name), GOMODEL_MASTER_KEY: MASTER, USAGE_FLUSH_INTERVAL: '100ms' });
  await untilListening(g);
  return g;
}

beforeAll(async () => {
  rig = await processRig();
  [a, b] = await Promise.all([replica('a'), replica('b')]);
}, 60_000);

afterAll(() => rig.stop());

async function adminCall<T>(g: ChildGateway, method: string, path: string, body?: unknown): Promise<T> {
  const res = await realFetch(`${g.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${MASTER}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

async function chat(g: ChildGateway, key: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await realFetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Milliseconds from now until `g` answers `key` with `status` (polled every 10 ms); fails past 1 s. */
async function untilAnswers(g: ChildGateway, key: string, status: number): Promise<number> {
  const start = Date.now();
  while ((await chat(g, key)) !== status) {
    if (Date.now() - start > 1000) throw new Error(`${g.url} did not answer ${status} within a second`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

type Created = { id: string; value: string };

it('a key created, deactivated, rotated or relabelled through one process holds on the other within a second', async () => {
  const delays: Record<string, number> = {};
  const key = await adminCall<Created>(a, 'POST', '/admin/auth-keys', { name: 'shared', user_path: '/shared', labels: ['v1'] });
  delays.create = await untilAnswers(b, key.value, 200);

  await adminCall(a, 'PUT', `/admin/auth-keys/${key.id}/labels`, { labels: ['v2'] });
  const relabelled = Date.now();
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() - relabelled)));
  expect(await chat(b, key.value, { 'X-Request-ID': 'after-relabel' })).toBe(200);

  const rotated = await adminCall<Created>(a, 'POST', `/admin/auth-keys/${key.id}/rotate`, { grace_seconds: 0 });
  delays.rotate = await untilAnswers(b, key.value, 401);
  expect(await chat(b, rotated.value)).toBe(200);

  await adminCall(a, 'POST', `/admin/auth-keys/${key.id}/deactivate`);
  delays.deactivate = await untilAnswers(b, rotated.value, 401);

  await new Promise((r) => setTimeout(r, 300));
  const [row] = await rig.sql<{ labels: string[] }[]>`select labels from usage where request_id = 'after-relabel'`;
  expect(row!.labels).toEqual(['v2']);
  for (const [change, ms] of Object.entries(delays)) expect(ms, change).toBeLessThan(1000);
  console.log(`key changes reached the other process in ${JSON.stringify(delays)} ms (first request that saw them)`);
}, 30_000);

it('two processes together admit exactly a shared request limit, and a restarted process continues its window', async () => {
  const key = await adminCall<Created>(a, 'POST', '/admin/auth-keys', { name: 'limited', user_path: '/limited' });
  await adminCall(a, 'PUT', '/admin/rate-limits', { user_path: '/limited', limit_key: { period: 'hour' }, max_requests: 40 });
  await adminCall(a, 'POST', '/admin/rate-limits/reset-one', { user_path: '/limited', period: 'hour' });
  await untilAnswers(b, key.value, 200); // b has the key; this request counts
  const statuses = await Promise.all([a, b].flatMap((g) => Array.from({ length: 60 }, () => chat(g, key.value))));
  const served = statuses.filter((s) => s === 200).length;
  expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  expect(served + 1).toBe(40);

  await terminate(a.proc);
  a = await replica('a2');
  expect(await Promise.all([chat(a, key.value), chat(b, key.value)])).toEqual([429, 429]);
  await new Promise((r) => setTimeout(r, 400));
  const { rate_limits } = await adminCall<{ rate_limits: { subject: string; requests_used: number }[] }>(b, 'GET', '/admin/rate-limits');
  expect(rate_limits.find((r) => r.subject === '/limited')!.requests_used).toBe(40);
}, 60_000);

it('two processes together keep a concurrency cap', async () => {
  const key = await adminCall<Created>(a, 'POST', '/admin/auth-keys', { name: 'concurrent', user_path: '/conc' });
  await adminCall(a, 'PUT', '/admin/rate-limits', { user_path: '/conc', limit_key: { period: 'concurrent' }, max_requests: 4 });
  await untilAnswers(b, key.value, 200);
  await untilAnswers(a, key.value, 200);
  rig.provider.extraDelayMs = 300;
  rig.provider.maxInFlight = 0;
  const statuses = await Promise.all([a, b].flatMap((g) => Array.from({ length: 12 }, () => chat(g, key.value))));
  rig.provider.extraDelayMs = 0;
  expect(rig.provider.maxInFlight).toBeLessThanOrEqual(4);
  expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
  expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
}, 30_000);

it('keeps authenticating from memory while the database is down; a limit whose lease ran out answers 503 rate_limit_check_failed', async () => {
  const key = await adminCall<Created>(a, 'POST', '/admin/auth-keys', { name: 'outage', user_path: '/outage' });
  await adminCall(a, 'PUT', '/admin/rate-limits', { user_path: '/outage/limited', limit_key: { period: 'hour' }, max_requests: 1000 });
  await untilAnswers(b, key.value, 200);
  // b knows the limit (it hears of it by notification) once it answers with its headers; that one
  // request took the lease's single request.
  const limited = () =>
    realFetch(`${b.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key.value}`, 'Content-Type': 'application/json', 'X-GoModel-User-Path': '/outage/limited' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
  for (let res = await limited(); res.headers.get('x-ratelimit-limit-requests') !== '1000'; res = await limited()) {
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 10));
  }
  rig.proxy.cut();
  try {
    expect(await chat(b, key.value)).toBe(200);
    expect(await chat(b, 'sk_gom_unknown')).toBe(401);
    const res = await limited();
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('rate_limit_check_failed');
  } finally {
    rig.proxy.restore();
  }
}, 60_000);
