import { afterAll, beforeAll, expect, it } from 'vitest';
import { processRig, spawnGateway, untilListening, type ChildGateway, type ProcessRig } from '../support/child-gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

// SHUTDOWN_TIMEOUT=1s; the gateway's own bound on what follows it is 5 s (src/main.ts).
const TIMEOUT_MS = 1000;
const BOUND_MS = TIMEOUT_MS + 5000;

let rig: ProcessRig;
beforeAll(async () => {
  rig = await processRig();
});
afterAll(() => rig.stop());

async function start(): Promise<ChildGateway> {
  const gw = await spawnGateway({ ...rig.env, SHUTDOWN_TIMEOUT: `${TIMEOUT_MS}ms` });
  await untilListening(gw);
  return gw;
}

const chat = (gw: ChildGateway, id: string, model: string, stream: boolean) =>
  realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Request-ID': id },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream }),
  });

/** A stream whose provider stops after its first chunk, once that chunk is in; `whole` is its text once the gateway ends it. */
async function hangingStream(gw: ChildGateway, id: string): Promise<{ whole: Promise<string> }> {
  const res = await chat(gw, id, 'hang', true);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('\n\n')) text += decoder.decode((await reader.read()).value);
  const whole = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value);
    return text;
  })();
  return { whole };
}

/** Sends SIGTERM; resolves with the exit code and the milliseconds it took, or rejects past BOUND_MS plus a second. */
async function terminate(gw: ChildGateway): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  // Not proc.kill: Deno's reports a child that handled the signal and exited 0 as killed by it.
  process.kill(gw.proc.pid!, 'SIGTERM');
  const code = await Promise.race([gw.exited, new Promise<never>((_, fail) => setTimeout(() => fail(new Error('still running')), BOUND_MS + 1000))]);
  return { code, ms: Date.now() - started };
}

const caveats = async (ids: string[]) =>
  Object.fromEntries((await rig.sql<{ request_id: string; costs_calculation_caveat: string }[]>`select request_id, costs_calculation_caveat from usage where request_id in ${rig.sql(ids)}`).map((r) => [r.request_id, r.costs_calculation_caveat]));

it('cuts requests still in flight at SHUTDOWN_TIMEOUT, records their rows as interrupted, and exits', async () => {
  const gw = await start();
  try {
    expect((await chat(gw, 'sd-done', 'gpt-4o-mini', false)).status).toBe(200);
    const stream = await hangingStream(gw, 'sd-stream');
    const json = chat(gw, 'sd-json', 'hang', false);
    await new Promise((r) => setTimeout(r, 100)); // the JSON request reaches the provider
    const exit = terminate(gw);

    const text = await stream.whole;
    expect(text).not.toContain('[DONE]');
    const last = JSON.parse(text.trim().split('\n\n').at(-1)!.slice('data: '.length)) as { error: { code: string } };
    expect(last.error.code).toBe('interrupted_by_shutdown');
    const refused = await json;
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('interrupted_by_shutdown');
    const { code, ms } = await exit;
    expect(code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(ms).toBeLessThan(BOUND_MS);
  } finally {
    gw.proc.kill('SIGKILL');
  }
  expect(await caveats(['sd-done', 'sd-stream', 'sd-json'])).toEqual({
    'sd-done': '',
    'sd-stream': 'interrupted by gateway shutdown before the provider reported usage',
    'sd-json': 'interrupted by gateway shutdown before the provider replied',
  });
}, 30_000);

it('exits within its bound when the database stops answering too, and the next process writes the rows it journaled', async () => {
  const gw = await start();
  try {
    expect((await chat(gw, 'hung-done', 'gpt-4o-mini', false)).status).toBe(200);
    const stream = await hangingStream(gw, 'hung-stream');
    rig.proxy.hang();
    const exit = terminate(gw);
    expect(await stream.whole).toContain('interrupted_by_shutdown');
    expect((await exit).ms).toBeLessThan(BOUND_MS);
  } finally {
    gw.proc.kill('SIGKILL');
    rig.proxy.restore();
  }
  const next = await start();
  await expect.poll(() => caveats(['hung-done', 'hung-stream']), { timeout: 10_000, interval: 200 }).toEqual({
    'hung-done': '',
    'hung-stream': 'interrupted by gateway shutdown before the provider reported usage',
  });
  expect((await terminate(next)).code).toBe(0);
}, 30_000);
