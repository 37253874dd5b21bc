import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { processRig, spawnGateway, untilListening, type ChildGateway, type ProcessRig } from '../support/child-gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

let rig: ProcessRig;
let gw: ChildGateway;
beforeAll(async () => {
  rig = await processRig();
  gw = await spawnGateway({ ...rig.env, LOG_LEVEL: 'warn' });
  await untilListening(gw);
});
afterAll(() => rig.stop());

/** Sends the headers and part of a body, then resets the connection. */
function abandonBody(path: string): Promise<void> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(port), '127.0.0.1', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"gpt-4o-mini",`);
      setTimeout(() => {
        socket.resetAndDestroy();
        resolve();
      }, 100);
    });
    socket.on('error', reject);
  });
}

it('takes a client that leaves in the middle of its body as gone: no error logged, nothing answered, the next request served', async () => {
  await abandonBody('/v1/chat/completions');
  await abandonBody('/admin/budgets');
  await new Promise((r) => setTimeout(r, 200));
  const res = await realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  const lines = gw.output().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string });
  expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  expect(lines.map((l) => l.msg)).not.toContain('an unexpected error occurred');
  // The /v1 request that was abandoned still has its audit entry, as 499.
  await expect
    .poll(async () => (await rig.sql<{ n: number }[]>`select count(*)::int as n from audit_log where path = '/v1/chat/completions' and status_code = 499`)[0]!.n, { timeout: 5000 })
    .toBe(1);
});
