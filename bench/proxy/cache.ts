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

/**
 * The exact response cache's hit path against a proxied request at c=1: the same ~4.5 KB chat
 * request, answered from the cache (one primary-key read in PostgreSQL, a usage row journaled) or
 * sent to the mock provider (`Cache-Control: no-cache`), alternately, as a reply and as a stream.
 * The mock answers at once, so the proxied figure is the gateway's own overhead plus loopback: a
 * real provider's seconds would only widen the gap.
 */
export async function runCache(quick: boolean, log: (line: string) => void): Promise<CacheResult> {
  const db = await createDatabase('cache');
  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(new URL('../mock-upstream.ts', import.meta.url).pathname), port: mockPort, env: { PORT: String(mockPort) } });
  const dirs: string[] = [];
  let gateway: Server | undefined;
  try {
    gateway = await stageGateway('gomodel-cache', db.url, mock.url, dirs, { CACHE_ENABLED: 'true' });
    const url = `${gateway.url}/v1/chat/completions`;
    const send = async (body: string, headers: Record<string, string>, hit: boolean): Promise<number> => {
      const started = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json', 'X-Cache-Type': 'exact', ...headers }, body });
      await res.arrayBuffer();
      const ms = performance.now() - started;
      if (res.status !== 200 || (res.headers.get('x-cache') !== null) !== hit) throw new Error(`cache stage: expected a ${hit ? 'hit' : 'proxied reply'}, got ${res.status} ${res.headers.get('x-cache') ?? ''}`);
      return ms;
    };
    const n = quick ? 50 : 500;
    const cases: CacheCase[] = [];
    for (const stream of [false, true]) {
      const body = chatBody(INSTANT, stream);
      // The first request stores the entry; it is written after the reply, so the next waits for it.
      await send(body, {}, false);
      for (let i = 0; ; i++) {
        const res = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json', 'X-Cache-Type': 'exact' }, body });
        await res.arrayBuffer();
        if (res.headers.get('x-cache')) break;
        if (i > 100) throw new Error('cache stage: the entry was never stored');
        await new Promise((r) => setTimeout(r, 20));
      }
      log(`cache: ${n} hits and ${n} proxied ${stream ? 'streams' : 'replies'} at c=1, alternately`);
      for (let i = 0; i < 20; i++) {
        await send(body, {}, true);
        await send(body, { 'Cache-Control': 'no-cache' }, false);
      }
      const hits: number[] = [];
      const proxied: number[] = [];
      for (let i = 0; i < n; i++) {
        hits.push(await send(body, {}, true));
        proxied.push(await send(body, { 'Cache-Control': 'no-cache' }, false));
      }
      const kind = stream ? 'stream' : 'reply';
      cases.push({ id: `proxied-${kind}`, label: `proxied ${kind}`, n, p50Ms: percentile(proxied, 50), p99Ms: percentile(proxied, 99) });
      cases.push({ id: `hit-${kind}`, label: `cache hit, ${kind}`, n, p50Ms: percentile(hits, 50), p99Ms: percentile(hits, 99) });
    }
    const p50 = (id: string) => cases.find((c) => c.id === id)!.p50Ms;
    return { cases, hitsBeatProxied: p50('hit-reply') < p50('proxied-reply') && p50('hit-stream') < p50('proxied-stream') };
  } finally {
    await gateway?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await mock.stop();
    await db.drop();
  }
}
