import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../lib/ports.ts';
import { startServer, tsNode, type Server } from '../lib/processes.ts';
import { createDatabase } from '../lib/postgres.ts';
import { percentile } from '../lib/stats.ts';
import { chatBody, INSTANT } from './payloads.ts';
import { stageGateway } from './stage-gateway.ts';
import { MASTER_KEY } from './targets.ts';

/** How long a hanging provider is given to send its response headers (HTTP_RESPONSE_HEADER_TIMEOUT) in this stage. */
export const HEADER_TIMEOUT_MS = 1000;

export interface FailoverCase {
  id: string;
  label: string;
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface FailoverResult {
  headerTimeoutMs: number;
  cases: FailoverCase[];
}

/**
 * Time to fail over: sequential chat completions whose primary model's provider answers, refuses
 * connections, or never sends its headers, each moving on to the same mock model; and the
 * refusing provider once its circuit breaker is open. The retry policy is off
 * (RETRY_MAX_RETRIES=0), so the figures are the failover's own: with retries on, a non-streamed
 * request first waits out the policy's backoff.
 */
export async function runFailover(quick: boolean, log: (line: string) => void): Promise<FailoverResult> {
  const db = await createDatabase('failover');
  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(new URL('../mock-upstream.ts', import.meta.url).pathname), port: mockPort, env: { PORT: String(mockPort) } });
  const hanging = createServer(() => {}).listen(0, '127.0.0.1');
  await once(hanging, 'listening');
  const dead = `http://127.0.0.1:${await freePort()}/v1`;
  const servers: Server[] = [];
  const dirs: string[] = [];
  const gateway = async (name: string, env: Record<string, string>) => {
    const server = await stageGateway(name, db.url, mock.url, dirs, {
      OPENAI_DEAD_BASE_URL: dead,
      OPENAI_DEAD_MODELS: INSTANT,
      OPENAI_HANG_BASE_URL: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/v1`,
      OPENAI_HANG_MODELS: INSTANT,
      FAILOVER_RULES_JSON: JSON.stringify({ [`openai-dead/${INSTANT}`]: [`openai/${INSTANT}`], [`openai-hang/${INSTANT}`]: [`openai/${INSTANT}`] }),
      HTTP_RESPONSE_HEADER_TIMEOUT: `${HEADER_TIMEOUT_MS}ms`,
      RETRY_MAX_RETRIES: '0',
      ...env,
    });
    servers.push(server);
    return server;
  };
  const time = async (server: Server, model: string, n: number): Promise<number[]> => {
    const samples: number[] = [];
    const body = chatBody(model, false);
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' }, body });
      await res.arrayBuffer();
      if (res.status !== 200 || res.headers.get('x-gomodel-provider') !== 'openai') throw new Error(`failover stage: ${model} answered ${res.status} through ${res.headers.get('x-gomodel-provider')}`);
      samples.push(performance.now() - started);
    }
    return samples;
  };
  const figures = (id: string, label: string, samples: number[]): FailoverCase => ({
    id,
    label,
    n: samples.length,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    maxMs: Math.max(...samples),
  });
  try {
    const n = quick ? 5 : 50;
    // Breakers that never open, so that every request meets the dead or hanging provider.
    const open = await gateway('gomodel-failover', { CIRCUIT_BREAKER_FAILURE_THRESHOLD: '1000000' });
    log(`failover: ${n} requests to a healthy primary, ${n} to a refusing one, ${quick ? 2 : 5} to a hanging one (header timeout ${HEADER_TIMEOUT_MS} ms)`);
    await time(open, `openai/${INSTANT}`, 5);
    const cases = [
      figures('healthy', 'primary answers', await time(open, `openai/${INSTANT}`, n)),
      figures('refused', 'primary refuses connections', await time(open, `openai-dead/${INSTANT}`, n)),
      figures('hanging', `primary sends no headers (timeout ${HEADER_TIMEOUT_MS} ms)`, await time(open, `openai-hang/${INSTANT}`, quick ? 2 : 5)),
    ];
    // The default breaker: opened by its first five failures, then the dead provider is skipped.
    const guarded = await gateway('gomodel-failover-breaker', {});
    await time(guarded, `openai-dead/${INSTANT}`, 5);
    cases.push(figures('breaker-open', 'primary refuses, its breaker open', await time(guarded, `openai-dead/${INSTANT}`, n)));
    return { headerTimeoutMs: HEADER_TIMEOUT_MS, cases };
  } finally {
    for (const s of servers) await s.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    hanging.closeAllConnections();
    hanging.close();
    await mock.stop();
    await db.drop();
  }
}
