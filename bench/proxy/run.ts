import { Agent } from 'node:http';
import { ProcessSampler, cpuSeconds, rssBytes } from '../lib/proc-stats.ts';
import { pidsNamed, startServer, tsNode, type Server } from '../lib/processes.ts';
import { freePort } from '../lib/ports.ts';
import { createDatabase } from '../lib/postgres.ts';
import { timeStream, type StreamTiming } from '../lib/sse-client.ts';
import { percentile } from '../lib/stats.ts';
import { wrk } from '../lib/wrk.ts';
import { chatBody, INSTANT, SLOW } from './payloads.ts';
import { targets, type Target, type TargetContext } from './targets.ts';

export interface ProxyOptions {
  /** Seconds of each measured wrk run. */
  seconds: number;
  warmupSeconds: number;
  /** Sequential streams from the instant model (TTFT and total time). */
  streams: number;
  /** Sequential streams from the 20 ms model (chunk spread: no buffering). */
  slowStreams: number;
  /** Target ids to run; all when empty. */
  only: string[];
  /** Passes over all targets, interleaved; each target reports its median pass. */
  rounds: number;
}

/** A pass's headline figures, kept for every pass to show the spread behind the median. */
export interface RoundFigures {
  c1P50Ms: number;
  c1P99Ms: number;
  c16Rps: number;
  c128Rps: number;
  ttftP50Ms: number;
  peakRssMb: number;
}

export interface LoadFigures {
  model: string;
  connections: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** CPU of the target's own processes (not the mock's) per request. */
  cpuMsPerRequest: number;
  /** CPU of every PostgreSQL process on the machine per request (the gateway's usage writes). */
  postgresCpuMsPerRequest: number;
  errors: number;
}

export interface StreamFigures {
  model: string;
  n: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  totalP50Ms: number;
  totalP99Ms: number;
  /** Median time from the first content event to the last: near 0 when a proxy buffers. */
  spreadP50Ms: number;
  /** Median number of socket reads per stream. */
  readsP50: number;
}

export interface TargetResult {
  id: string;
  label: string;
  processes: number;
  c1: LoadFigures;
  c16: LoadFigures;
  c128: LoadFigures;
  c128Slow: LoadFigures;
  stream: StreamFigures;
  slowStream: StreamFigures;
  /** RSS once started, before any load; peak RSS is the largest seen during the load. */
  idleRssMb: number;
  peakRssMb: number;
  /** Usage rows the gateway wrote for this target's traffic, and the requests it answered. */
  recording?: { rows: number; requests: number };
  /** Every pass, in order; the figures above are those of the pass with the median c=16 rate. */
  rounds?: RoundFigures[];
}

const PATH = '/v1/chat/completions';

async function load(server: Server, headers: Record<string, string>, model: string, connections: number, seconds: number, sampler: ProcessSampler): Promise<LoadFigures> {
  const pg = pidsNamed('postgres');
  const pgCpu = () => pg.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const cpu0 = sampler.cpu();
  const pg0 = pgCpu();
  const r = await wrk({ url: server.url + PATH, body: chatBody(model, false), headers, connections, durationSeconds: seconds });
  const cpu = sampler.cpu() - cpu0;
  const pgUsed = pgCpu() - pg0;
  if (r.errors > 0) console.warn(`  ${server.name} c=${connections} ${model}: ${r.errors} errors`);
  return {
    model,
    connections,
    requests: r.requests,
    rps: r.rps,
    p50Ms: r.p50Ms,
    p90Ms: r.p90Ms,
    p99Ms: r.p99Ms,
    cpuMsPerRequest: (cpu * 1000) / r.requests,
    postgresCpuMsPerRequest: (pgUsed * 1000) / r.requests,
    errors: r.errors,
  };
}

async function streams(server: Server, headers: Record<string, string>, model: string, n: number): Promise<{ figures: StreamFigures; count: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = chatBody(model, true);
  const warmup = Math.min(20, n);
  const timings: StreamTiming[] = [];
  try {
    for (let i = 0; i < n + warmup; i++) {
      const t = await timeStream(server.url + PATH, headers, body, agent);
      if (i >= warmup) timings.push(t);
    }
  } finally {
    agent.destroy();
  }
  const of = (f: (t: StreamTiming) => number, p: number) => percentile(timings.map(f), p);
  return {
    count: n + warmup,
    figures: {
      model,
      n,
      ttftP50Ms: of((t) => t.ttftMs, 50),
      ttftP99Ms: of((t) => t.ttftMs, 99),
      totalP50Ms: of((t) => t.totalMs, 50),
      totalP99Ms: of((t) => t.totalMs, 99),
      spreadP50Ms: of((t) => t.contentAtMs.at(-1)! - t.contentAtMs[0]!, 50),
      readsP50: of((t) => t.reads, 50),
    },
  };
}

async function measure(target: Target, ctx: TargetContext, opts: ProxyOptions, countRows: () => Promise<number>): Promise<TargetResult> {
  const rowsBefore = await countRows();
  const server = await target.start(ctx);
  const headers = target.headers(ctx);
  const sampler = new ProcessSampler(() => server.pids);
  const idleRss = server.pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
  sampler.start();
  let answered = 0;
  try {
    const warm = await load(server, headers, INSTANT, 16, opts.warmupSeconds, sampler);
    const c1 = await load(server, headers, INSTANT, 1, opts.seconds, sampler);
    const c16 = await load(server, headers, INSTANT, 16, opts.seconds, sampler);
    const c128 = await load(server, headers, INSTANT, 128, opts.seconds, sampler);
    const c128Slow = await load(server, headers, SLOW, 128, opts.seconds, sampler);
    const stream = await streams(server, headers, INSTANT, opts.streams);
    const slowStream = await streams(server, headers, SLOW, opts.slowStreams);
    answered = [warm, c1, c16, c128, c128Slow].reduce((n, l) => n + l.requests, 0) + stream.count + slowStream.count;
    sampler.stop();
    const result: TargetResult = {
      id: target.id,
      label: target.label,
      processes: server.pids.length,
      c1,
      c16,
      c128,
      c128Slow,
      stream: stream.figures,
      slowStream: slowStream.figures,
      idleRssMb: idleRss / 2 ** 20,
      peakRssMb: sampler.peakRss / 2 ** 20,
    };
    if (target.id.startsWith('gomodel')) {
      // Stopping drains the recorder, so every row of this target's traffic is in the table.
      await server.stop();
      result.recording = { rows: (await countRows()) - rowsBefore, requests: answered };
    }
    return result;
  } finally {
    sampler.stop();
    await server.stop();
  }
}

/** Every proxy target side by side, against one mock upstream, in one run. */
export async function runProxy(opts: ProxyOptions, log: (line: string) => void): Promise<TargetResult[]> {
  const db = await createDatabase('proxy');
  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(new URL('../mock-upstream.ts', import.meta.url).pathname), port: mockPort, env: { PORT: String(mockPort) } });
  const ctx: TargetContext = { mock, databaseUrl: db.url };
  const countRows = async () => Number((await db.sql`select count(*)::bigint as n from usage`)[0]!.n);
  const chosen = targets.filter((t) => opts.only.length === 0 || opts.only.includes(t.id));
  const passes = new Map<string, TargetResult[]>(chosen.map((t) => [t.id, []]));
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const target of chosen) {
        log(`proxy: ${target.label} (pass ${round} of ${opts.rounds})`);
        const r = await measure(target, ctx, opts, countRows);
        log(`  c1 p50 ${r.c1.p50Ms.toFixed(3)} ms p99 ${r.c1.p99Ms.toFixed(3)} ms · c16 ${r.c16.rps.toFixed(0)} rps · c128 ${r.c128.rps.toFixed(0)} rps · ttft ${r.stream.ttftP50Ms.toFixed(2)} ms · rss ${r.peakRssMb.toFixed(0)} MB`);
        passes.get(target.id)!.push(r);
      }
    }
  } finally {
    await mock.stop();
    await db.drop();
  }
  return chosen.map((t) => medianPass(passes.get(t.id)!));
}

/**
 * The pass with the median c=16 rate stands for the target (its figures belong together); peak
 * RSS is the largest of all passes. Interleaved passes spread a busy moment of a shared machine
 * over every target instead of penalising one.
 */
function medianPass(runs: TargetResult[]): TargetResult {
  const sorted = [...runs].sort((a, b) => a.c16.rps - b.c16.rps);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    ...median,
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    rounds: runs.map((r) => ({ c1P50Ms: r.c1.p50Ms, c1P99Ms: r.c1.p99Ms, c16Rps: r.c16.rps, c128Rps: r.c128.rps, ttftP50Ms: r.stream.ttftP50Ms, peakRssMb: r.peakRssMb })),
  };
}
