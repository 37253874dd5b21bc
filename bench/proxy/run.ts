import { Agent, request } from 'node:http';
import { allCpus, deprioritize, pin, restore, throughputPlacement, type Placement } from '../lib/cpus.ts';
import { ProcessSampler, cpuSeconds, rssBytes } from '../lib/proc-stats.ts';
import { pidsNamed, startServer, tsNode, type Server } from '../lib/processes.ts';
import { freePort } from '../lib/ports.ts';
import { backendPids, createDatabase, pauseBackends, untilIdle, type BenchDatabase } from '../lib/postgres.ts';
import { STREAM_BLOCK, streamRate, timeStreamBlock, type StreamTiming } from '../lib/sse-client.ts';
import { percentile } from '../lib/stats.ts';
import { wrk } from '../lib/wrk.ts';
import { chatBody, INSTANT, messagesBody, responsesBody, SLOW } from './payloads.ts';
import type { Runtime } from '../lib/runtimes.ts';
import { proxyTargets, type Target, type TargetContext } from './targets.ts';

export interface ProxyOptions {
  /** Seconds of each measured throughput run; also the one-second c=1 runs per target per round. */
  seconds: number;
  /** Load at c=16 before anything is measured, per target: a fresh gomodel-ts runs at half its rate while its code is optimised. */
  warmupSeconds: number;
  /** Untimed load at c=16 before each target's turn in a throughput round. */
  rewarmSeconds: number;
  /** Sequential streams from the instant model (TTFT and total time). */
  streams: number;
  /** Sequential streams from the 20 ms model (chunk spread: no buffering). */
  slowStreams: number;
  /** Target ids to run; all when empty. */
  only: string[];
  /** Throughput rounds over all targets, interleaved (each target reports its median round). */
  rounds: number;
  /** What the gateway targets run under, each of them once under each. */
  runtimes: Runtime[];
}

/** A round's throughput figures, kept for every round to show the spread behind the median. */
export interface RoundFigures {
  c16Rps: number;
  c128Rps: number;
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
  /** Streams that did not answer 200 or carried no content (absent from results written before it was counted). */
  errors?: number;
}

/** One client API's streams through a target: first token, total, and streams a second at c=16. */
export interface ApiStreamFigures {
  /** The case (`chat`, `responses-native`, …); direct to the mock runs the provider request the gateway makes for it. */
  id: string;
  label: string;
  stream: StreamFigures;
  /** Completed streams a second with 16 clients streaming. */
  streamsPerSecond: number;
}

export interface TargetResult {
  /** The kind of target; a gateway's is shared by its runs under each runtime. */
  id: string;
  label: string;
  /** What a gateway target ran under (results before issue 29 ran it under the bench's Node and lack this). */
  runtime?: { id: string; name: string };
  processes: number;
  /**
   * From the latency stage: every target up, one-second runs in turn (median of their
   * percentiles), the database's backends paused during each run.
   */
  c1: LoadFigures;
  /** A gateway's c=1 runs with its database's backends running beside it on the two cores. */
  c1SharedDb?: LoadFigures;
  /** Its `c1` ran with the database running too (a target that tops up rate-limit leases as it goes). */
  c1DatabaseRunning?: true;
  c16: LoadFigures;
  c128: LoadFigures;
  c128Slow: LoadFigures;
  /** From the latency stage: streams in blocks of ten to each target in turn. */
  stream: StreamFigures;
  slowStream: StreamFigures;
  /** Streams of each client API (gateways and direct only). */
  apiStreams?: ApiStreamFigures[];
  /** RSS once started, before any load; peak RSS is the largest seen during the load. */
  idleRssMb: number;
  peakRssMb: number;
  /** Usage rows the gateway wrote for this target's traffic (its own user path), and the requests it answered. */
  recording?: { rows: number; requests: number };
  /** Every throughput round, in order; the c=16 and c=128 figures above are the round with the median c=16 rate. */
  rounds?: RoundFigures[];
  /** CPUs the target ran on in the throughput rounds (wrk, the mock and PostgreSQL elsewhere), or 'all'. */
  throughputCpus?: string;
}

export const PATH = '/v1/chat/completions';

async function load(server: Server, headers: Record<string, string>, model: string, connections: number, seconds: number, sampler: ProcessSampler, wrkCpus?: string): Promise<LoadFigures> {
  const pg = pidsNamed('postgres');
  const pgCpu = () => pg.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const cpu0 = sampler.cpu();
  const pg0 = pgCpu();
  const r = await wrk({ url: server.url + PATH, body: chatBody(model, false), headers, connections, durationSeconds: seconds, cpus: wrkCpus });
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

/** Runs of one load merged: counts summed, each latency percentile the median of the runs'. */
function merged(runs: LoadFigures[]): LoadFigures {
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const median = (f: (r: LoadFigures) => number) => percentile(runs.map(f), 50);
  const perRequest = (f: (r: LoadFigures) => number) => runs.reduce((sum, r) => sum + f(r) * r.requests, 0) / requests;
  return {
    model: runs[0]!.model,
    connections: runs[0]!.connections,
    requests,
    rps: median((r) => r.rps),
    p50Ms: median((r) => r.p50Ms),
    p90Ms: median((r) => r.p90Ms),
    p99Ms: median((r) => r.p99Ms),
    cpuMsPerRequest: perRequest((r) => r.cpuMsPerRequest),
    postgresCpuMsPerRequest: perRequest((r) => r.postgresCpuMsPerRequest),
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

function streamFigures(model: string, timings: StreamTiming[], errors = 0): StreamFigures {
  const of = (f: (t: StreamTiming) => number, p: number) => percentile(timings.map(f), p);
  return {
    model,
    n: timings.length,
    ttftP50Ms: of((t) => t.ttftMs, 50),
    ttftP99Ms: of((t) => t.ttftMs, 99),
    totalP50Ms: of((t) => t.totalMs, 50),
    totalP99Ms: of((t) => t.totalMs, 99),
    spreadP50Ms: of((t) => t.contentAtMs.at(-1)! - t.contentAtMs[0]!, 50),
    readsP50: of((t) => t.reads, 50),
    errors,
  };
}

interface Running {
  target: Target;
  server: Server;
  headers: Record<string, string>;
  sampler: ProcessSampler;
  /** RSS once started, before any load. */
  idleRssMb: number;
  /** CPUs of its throughput rounds. */
  cpus: string;
  answered: number;
}

interface RoundResult {
  c16: LoadFigures;
  c128: LoadFigures;
  c128Slow: LoadFigures;
  peakRssMb: number;
}

let warnedBackends = false;

/** The database's backends (the gateway's connections, opened as it needs them) get the harness's CPUs at nice 19. */
async function placeBackends(db: BenchDatabase, harness: string, log: (line: string) => void): Promise<void> {
  if (!deprioritize(await backendPids(db), harness) && !warnedBackends) {
    warnedBackends = true;
    log('  could not pin or renice the PostgreSQL backends (not permitted?): the database competes with the mock upstream for its core');
  }
}

/**
 * Starts every target, each on the target's core (the 2-worker gateway on every core) with wrk,
 * the mock and the database on the harness's; all stay up for both stages.
 */
async function startAll(chosen: Target[], ctx: TargetContext, placement: Placement | null): Promise<Running[]> {
  const running: Running[] = [];
  try {
    for (const target of chosen) {
      const server = await target.start(ctx);
      // Direct to the mock: the mock stays on the harness's CPUs, with wrk.
      const cpus = !placement || target.everyCpu ? 'all' : target.id === 'direct' ? placement.harness : placement.target;
      if (cpus === placement?.target && !pin(server.pids, cpus)) throw new Error(`could not pin ${target.id} to CPU ${cpus}`);
      const idleRssMb = server.pids.reduce((sum, pid) => sum + rssBytes(pid), 0) / 2 ** 20;
      running.push({ target, server, headers: target.headers(ctx), sampler: new ProcessSampler(() => server.pids), idleRssMb, cpus, answered: 0 });
    }
    return running;
  } catch (err) {
    for (const r of running) await r.server.stop();
    throw err;
  }
}

/**
 * Throughput: each target warmed up, then rounds in which every target in turn takes c=16, c=128
 * and c=128 of the 20 ms model (after a short untimed load), the others idle. Targets are
 * measured seconds apart rather than a pass of minutes apart: this shared machine's speed moves by
 * the minute (direct to the mock measured 16,337 and 9,968 req/s at c=16 in passes three minutes apart).
 */
async function throughputStage(running: Running[], db: BenchDatabase, opts: ProxyOptions, placement: Placement | null, log: (line: string) => void): Promise<Map<Running, RoundResult[]>> {
  const wrkCpus = placement?.harness;
  const run = async (r: Running, model: string, connections: number, seconds: number) => {
    const figures = await load(r.server, r.headers, model, connections, seconds, r.sampler, wrkCpus);
    r.answered += figures.requests;
    return figures;
  };
  // Before each turn: the backends a gateway opened during its last one get the harness's core too.
  const placeFor = async (r: Running) => {
    if (placement && r.target.userPath) await placeBackends(db, placement.harness, log);
  };
  for (const r of running) {
    log(`proxy: ${r.target.label}: warm-up (${opts.warmupSeconds} s at c=16)`);
    await placeFor(r);
    await run(r, INSTANT, 16, opts.warmupSeconds);
  }
  const rounds = new Map<Running, RoundResult[]>(running.map((r) => [r, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    log(`proxy: throughput round ${round} of ${opts.rounds}`);
    for (const r of running) {
      const sampler = new ProcessSampler(() => r.server.pids);
      sampler.start();
      try {
        await placeFor(r);
        // Untimed: the target has been idle while the others ran, its caches taken by their work.
        await run(r, INSTANT, 16, opts.rewarmSeconds);
        const c16 = await run(r, INSTANT, 16, opts.seconds);
        const c128 = await run(r, INSTANT, 128, opts.seconds);
        const c128Slow = await run(r, SLOW, 128, opts.seconds);
        sampler.stop();
        rounds.get(r)!.push({ c16, c128, c128Slow, peakRssMb: sampler.peakRss / 2 ** 20 });
        log(`  ${r.target.label}: c16 ${c16.rps.toFixed(0)} rps · c128 ${c128.rps.toFixed(0)} rps · c128 20 ms ${c128Slow.rps.toFixed(0)} rps · rss ${(sampler.peakRss / 2 ** 20).toFixed(0)} MB`);
      } finally {
        sampler.stop();
      }
    }
  }
  return rounds;
}

/**
 * Readies the databases for a c=1 run of the target at `url`: one request first on each of
 * `processes` fresh connections, which a cluster's primary hands to its workers in turn (a budget
 * lease left unused for 5 s is given back, and taking one again is a round trip to the database,
 * which a paused database would hold for the whole run), then waits until they have written what
 * they were given and, if `pause`, pauses their backends. Returns the function that resumes them.
 */
export async function settleDatabases(url: string, headers: Record<string, string>, body: string, dbs: readonly BenchDatabase[], pause: boolean, processes = 1): Promise<() => void> {
  for (let i = 0; i < processes; i++) {
    const status = await postOnce(url + PATH, headers, body);
    // Said, not thrown: the run goes on, and the server's log (BENCH_SERVER_LOGS) says why.
    if (status !== 200) console.warn(`  ${url}: a settling request answered ${status}`);
  }
  for (const db of dbs) await untilIdle(db);
  return pause ? pauseBackends(dbs) : () => {};
}

/** One POST on a connection of its own, closed after it; resolves with its status. */
function postOnce(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { ...headers, 'Content-Type': 'application/json', Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface LatencyResult {
  c1: LoadFigures;
  /** A gateway's c=1 with its database's INSERTs running on the same cores. */
  c1SharedDb?: LoadFigures;
  stream: StreamFigures;
  slowStream: StreamFigures;
}

/**
 * Latency with every target measured in turn, so a busy moment of this shared machine lands on
 * all of them rather than on whichever target it happened to be timing: c=1 as one-second wrk
 * runs (`seconds` × `rounds` of them per target, each percentile the median of the runs'), then
 * streams, in blocks of ten to each target in turn (time to first token, total, chunk spread).
 * Each c=1 run starts once the database has written what it was given, and runs with the
 * database's backends paused, as a database on another machine would be (pauseBackends); a
 * gateway's runs are repeated with them running, its rows inserted on the same two cores.
 */
async function latencyStage(running: Running[], db: BenchDatabase, opts: ProxyOptions, log: (line: string) => void): Promise<Map<Running, LatencyResult>> {
  log(`proxy: latency, every target in turn (${opts.seconds * opts.rounds} one-second c=1 runs, a gateway's twice, and ${opts.streams} + ${opts.slowStreams} streams each, in blocks of ${STREAM_BLOCK})`);
  const c1 = new Map<Running, LoadFigures[]>(running.map((r) => [r, []]));
  const c1SharedDb = new Map<Running, LoadFigures[]>(running.filter((r) => r.target.userPath).map((r) => [r, []]));
  const body = chatBody(INSTANT, false);
  const runC1 = async (r: Running, into: Map<Running, LoadFigures[]>, paused: boolean) => {
    const resume = await settleDatabases(r.server.url, r.headers, body, [db], paused, r.server.pids.length);
    r.answered++;
    try {
      const run = await load(r.server, r.headers, INSTANT, 1, 1, r.sampler);
      into.get(r)!.push(run);
      r.answered += run.requests;
    } finally {
      resume();
    }
  };
  for (let i = 0; i < opts.seconds * opts.rounds; i++) {
    for (const r of running) {
      await runC1(r, c1, !r.target.leasesPerRequest);
      if (r.target.userPath) await runC1(r, c1SharedDb, false);
    }
  }

  // Streams go to each target in blocks (timeStreamBlock), one target after another.
  const timeStreams = async (model: string, n: number) => {
    const body = chatBody(model, true);
    const agents = running.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
    const timings = new Map<Running, StreamTiming[]>(running.map((r) => [r, []]));
    const failures = new Map<Running, number>(running.map((r) => [r, 0]));
    try {
      for (let timed = 0; timed < n; timed += STREAM_BLOCK - 1) {
        for (const [j, r] of running.entries()) {
          const block = await timeStreamBlock(r.server.url + PATH, r.headers, body, agents[j]!);
          timings.get(r)!.push(...block.timed);
          failures.set(r, failures.get(r)! + block.failed);
          r.answered += STREAM_BLOCK - block.failed;
        }
      }
    } finally {
      for (const a of agents) a.destroy();
    }
    return { timings, failures };
  };
  const instant = await timeStreams(INSTANT, opts.streams);
  const slow = await timeStreams(SLOW, opts.slowStreams);
  return new Map(
    running.map((r) => [
      r,
      { c1: merged(c1.get(r)!), c1SharedDb: r.target.userPath ? merged(c1SharedDb.get(r)!) : undefined, stream: streamFigures(INSTANT, instant.timings.get(r)!, instant.failures.get(r)!), slowStream: streamFigures(SLOW, slow.timings.get(r)!, slow.failures.get(r)!) },
    ]),
  );
}

/**
 * Each client API a gateway serves, streamed: the path and body a client sends the gateway, and
 * the request the gateway then makes of the mock, which direct-to-the-mock runs instead. The
 * mock is both the OpenAI provider (chat completions, Responses) and the Anthropic one (Messages).
 */
const apiCases = [
  { id: 'chat', label: 'chat completions', path: '/v1/chat/completions', body: chatBody(INSTANT, true), directPath: '/v1/chat/completions', directBody: chatBody(INSTANT, true) },
  { id: 'responses-native', label: '/v1/responses relayed to OpenAI', path: '/v1/responses', body: responsesBody(INSTANT), directPath: '/v1/responses', directBody: responsesBody(INSTANT) },
  { id: 'responses-translated', label: '/v1/responses translated for Anthropic', path: '/v1/responses', body: responsesBody(`anthropic/${INSTANT}`), directPath: '/v1/messages', directBody: messagesBody(INSTANT) },
  { id: 'messages-native', label: '/v1/messages relayed to Anthropic', path: '/v1/messages', body: messagesBody(`anthropic/${INSTANT}`), directPath: '/v1/messages', directBody: messagesBody(INSTANT) },
  { id: 'messages-translated', label: '/v1/messages translated for OpenAI', path: '/v1/messages', body: messagesBody(INSTANT), directPath: '/v1/chat/completions', directBody: chatBody(INSTANT, true) },
];

/**
 * Streams of every client API through the gateways, beside the same provider streams direct to
 * the mock: time to first token and total in blocks to each target in turn (as the latency stage
 * times chat), then streams a second with 16 clients, each target in turn.
 */
async function apiStage(running: Running[], opts: ProxyOptions, log: (line: string) => void): Promise<Map<Running, ApiStreamFigures[]>> {
  const targets = running.filter((r) => r.target.id === 'direct' || r.target.userPath);
  log(`proxy: streams of each client API (${apiCases.map((c) => c.id).join(', ')}), ${opts.streams} timed and ${opts.seconds} s at c=16 each, on ${targets.length} targets`);
  const out = new Map<Running, ApiStreamFigures[]>(targets.map((r) => [r, []]));
  for (const c of apiCases) {
    const request = (r: Running) => (r.target.id === 'direct' ? { url: r.server.url + c.directPath, body: c.directBody } : { url: r.server.url + c.path, body: c.body });
    const agents = targets.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
    const timings = new Map<Running, StreamTiming[]>(targets.map((r) => [r, []]));
    try {
      for (let timed = 0; timed < opts.streams; timed += STREAM_BLOCK - 1) {
        for (const [j, r] of targets.entries()) {
          const { url, body } = request(r);
          const block = await timeStreamBlock(url, r.headers, body, agents[j]!);
          if (block.failed) console.warn(`  ${c.id} through ${r.target.id}: ${block.failed} streams failed`);
          timings.get(r)!.push(...block.timed);
          r.answered += STREAM_BLOCK - block.failed;
        }
      }
    } finally {
      for (const a of agents) a.destroy();
    }
    for (const r of targets) {
      const { url, body } = request(r);
      const rate = await streamRate(url, r.headers, body, 16, opts.seconds);
      r.answered += rate.streams;
      out.get(r)!.push({ id: c.id, label: c.label, stream: streamFigures(INSTANT, timings.get(r)!), streamsPerSecond: rate.perSecond });
    }
  }
  return out;
}

/**
 * Every proxy target side by side, against one mock upstream, in one run, all of them up from
 * start to end: the throughput stage (each target pinned, loaded in turn, round after round,
 * each reporting its median round), then the latency stage, unpinned.
 */
export async function runProxy(opts: ProxyOptions, log: (line: string) => void): Promise<TargetResult[]> {
  const db = await createDatabase('proxy');
  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(new URL('../mock-upstream.ts', import.meta.url).pathname), port: mockPort, env: { PORT: String(mockPort) } });
  const ctx: TargetContext = { mock, databaseUrl: db.url };
  const chosen = proxyTargets(opts.runtimes).filter((t) => opts.only.length === 0 || opts.only.includes(t.id));
  const placement = throughputPlacement();
  let running: Running[] = [];
  try {
    if (placement && !pin(mock.pids, placement.harness)) throw new Error('could not pin the mock upstream to its cores');
    log(placement ? `proxy: throughput with the targets on CPU ${placement.target}, wrk, the mock and PostgreSQL on CPU ${placement.harness}` : 'proxy: throughput unplaced (one core, or no taskset)');
    running = await startAll(chosen, ctx, placement);
    const rounds = await throughputStage(running, db, opts, placement, log);
    // Latency is measured unplaced: with the client and the mock on one core, direct requests never
    // cross cores while proxied ones would twice, which would inflate the added latency.
    if (placement) {
      pin(mock.pids, allCpus());
      for (const r of running) pin(r.server.pids, allCpus());
      restore(await backendPids(db));
    }
    const latency = await latencyStage(running, db, opts, log);
    const apis = await apiStage(running, opts, log);
    const measured = running.splice(0);
    // Stopping a gateway drains its recorder, so every row of its traffic is in the table.
    for (const r of measured) await r.server.stop();
    // Every gateway target has a user path of its own, so its rows are told apart from the others'.
    const rows = new Map((await db.sql<{ path: string; n: string }[]>`select user_path as path, count(*)::bigint as n from usage group by user_path`).map((r) => [r.path, Number(r.n)]));
    return measured.map((r) => {
      const t = r.target;
      const l = latency.get(r)!;
      const runs = rounds.get(r)!;
      const p = [...runs].sort((a, b) => a.c16.rps - b.c16.rps)[Math.floor((runs.length - 1) / 2)]!;
      const result: TargetResult = {
        id: t.id,
        label: t.label,
        ...(t.runtime ? { runtime: { id: t.runtime.id, name: t.runtime.name } } : {}),
        processes: r.server.pids.length,
        c1: l.c1,
        ...(l.c1SharedDb ? { c1SharedDb: l.c1SharedDb } : {}),
        ...(t.leasesPerRequest ? { c1DatabaseRunning: true as const } : {}),
        c16: p.c16,
        c128: p.c128,
        c128Slow: p.c128Slow,
        stream: l.stream,
        slowStream: l.slowStream,
        ...(apis.has(r) ? { apiStreams: apis.get(r) } : {}),
        idleRssMb: r.idleRssMb,
        peakRssMb: Math.max(...runs.map((x) => x.peakRssMb)),
        rounds: runs.map((x) => ({ c16Rps: x.c16.rps, c128Rps: x.c128.rps, peakRssMb: x.peakRssMb })),
        throughputCpus: r.cpus,
      };
      if (t.userPath) result.recording = { rows: rows.get(t.userPath) ?? 0, requests: r.answered };
      return result;
    });
  } finally {
    for (const r of running) await r.server.stop();
    await mock.stop();
    await db.drop();
  }
}
