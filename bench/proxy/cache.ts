import { rmSync } from 'node:fs';
import { freePort } from '../lib/ports.ts';
import { startServer, tsNode, type Server } from '../lib/processes.ts';
import { createDatabase } from '../lib/postgres.ts';
import { percentile } from '../lib/stats.ts';
import { chatBody, INSTANT } from './payloads.ts';
import { stageGateway } from './stage-gateway.ts';
import { MASTER_KEY } from './targets.ts';

export interface CacheCase {
  id: string;
  label: string;
  n: number;
  p50Ms: number;
  p99Ms: number;
}

export interface CacheResult {
  cases: CacheCase[];
  /** Whether a hit's p50 is below its proxied request's, replies and streams alike. */
  hitsBeatProxied: boolean;
}

/** The two places a hit is answered from: the process's memory, or the shared table. */
const tiers: { id: string; label: string; env: Record<string, string> }[] = [
  { id: 'memory', label: 'from memory', env: {} },
  { id: 'database', label: 'from PostgreSQL', env: { CACHE_MEMORY_BYTES: '0' } },
];

/**
 * The exact response cache's hit path against a proxied request at c=1: the same ~4.5 KB chat
 * request, answered from the cache or sent to the mock provider (`Cache-Control: no-cache`),
 * alternately, as a reply and as a stream; once with the entry in the process's memory, once with
 * the memory tier off (CACHE_MEMORY_BYTES=0: one primary-key read in PostgreSQL a hit, as a
 * replica's first hit of an entry another stored). Every hit journals its usage row. The mock
 * answers at once, so the proxied figure is the gateway's own overhead plus loopback: a real
 * provider's seconds would only widen the gap.
 */
export async function runCache(quick: boolean, log: (line: string) => void): Promise<CacheResult> {
  const db = await createDatabase('cache');
  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(new URL('../mock-upstream.ts', import.meta.url).pathname), port: mockPort, env: { PORT: String(mockPort) } });
  const dirs: string[] = [];
  const servers: Server[] = [];
  try {
    const n = quick ? 50 : 500;
    const cases: CacheCase[] = [];
    let beats = true;
    for (const tier of tiers) {
      // Each gateway's requests under a user path of their own: the table is shared, their entries are not.
      const gateway = await stageGateway(`gomodel-cache-${tier.id}`, db.url, mock.url, dirs, { CACHE_ENABLED: 'true', ...tier.env });
      servers.push(gateway);
      const url = `${gateway.url}/v1/chat/completions`;
      const send = async (body: string, headers: Record<string, string>): Promise<{ ms: number; hit: boolean }> => {
        const started = performance.now();
        const res = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json', 'X-Cache-Type': 'exact', 'X-GoModel-User-Path': `/bench/cache-${tier.id}`, ...headers }, body });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`cache stage: the gateway answered ${res.status}`);
        return { ms: performance.now() - started, hit: res.headers.get('x-cache') !== null };
      };
      const timed = async (body: string, headers: Record<string, string>, hit: boolean): Promise<number> => {
        const r = await send(body, headers);
        if (r.hit !== hit) throw new Error(`cache stage: expected a ${hit ? 'hit' : 'proxied reply'}`);
        return r.ms;
      };
      for (const stream of [false, true]) {
        const body = chatBody(INSTANT, stream);
        // The first request stores the entry, in the table after its reply: wait until it answers.
        await timed(body, {}, false);
        for (let i = 0; !(await send(body, {})).hit; i++) {
          if (i > 100) throw new Error('cache stage: the entry was never stored');
          await new Promise((r) => setTimeout(r, 20));
        }
        log(`cache: ${n} hits ${tier.label} and ${n} proxied ${stream ? 'streams' : 'replies'} at c=1, alternately`);
        for (let i = 0; i < 20; i++) {
          await timed(body, {}, true);
          await timed(body, { 'Cache-Control': 'no-cache' }, false);
        }
        const hits: number[] = [];
        const proxied: number[] = [];
        for (let i = 0; i < n; i++) {
          hits.push(await timed(body, {}, true));
          proxied.push(await timed(body, { 'Cache-Control': 'no-cache' }, false));
        }
        const kind = stream ? 'stream' : 'reply';
        const hit = { id: `hit-${kind}-${tier.id}`, label: `cache hit ${tier.label}, ${kind}`, n, p50Ms: percentile(hits, 50), p99Ms: percentile(hits, 99) };
        const miss = { id: `proxied-${kind}-${tier.id}`, label: `proxied ${kind} (beside hits ${tier.label})`, n, p50Ms: percentile(proxied, 50), p99Ms: percentile(proxied, 99) };
        cases.push(miss, hit);
        beats &&= hit.p50Ms < miss.p50Ms;
      }
    }
    return { cases, hitsBeatProxied: beats };
  } finally {
    for (const s of servers) await s.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await mock.stop();
    await db.drop();
  }
}
