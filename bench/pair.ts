/**
 * A paired comparison of two proxy targets, for a change smaller than this machine's drift from
 * one minute to the next: the working tree's gateway (B) against the build of an earlier commit
 * (`--baseline=<ref>`) or against the bare proxy (`--against=bare`). Each pair loads A and B
 * back to back, in alternating order, and its difference is taken before any median, so a slow
 * moment of the machine lands on both sides of a pair. The pairs are spread over several fresh
 * pairs of processes (`--processes`): two processes of one build can differ by 10% for their whole
 * life (their code optimised differently), which one pair of processes would read as the change's.
 * Prints a Markdown summary.
 *
 *   npm run bench:pair -- --baseline=c3dc091 [--pairs=30] [--processes=5]
 *   npm run bench:pair -- --against=bare
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { badFlag, countFlag, readFlags } from './lib/cli.ts';
import { allCpus, deprioritize, pin, throughputPlacement } from './lib/cpus.ts';
import { startServer, tsNode, type Server } from './lib/processes.ts';
import { freePort } from './lib/ports.ts';
import { backendPids, createDatabase, type BenchDatabase } from './lib/postgres.ts';
import { STREAM_BLOCK, timeStreamBlock } from './lib/sse-client.ts';
import { percentile } from './lib/stats.ts';
import { wrk } from './lib/wrk.ts';
import { chatBody, INSTANT } from './proxy/payloads.ts';
import { PATH, settleDatabases } from './proxy/run.ts';
import { gateway, referenceTargets, type Target } from './proxy/targets.ts';

const usage = 'usage: npm run bench:pair -- --baseline=<git ref> | --against=bare  [--pairs=N (default 30)] [--processes=N (default 5)]';
const values = readFlags(
  process.argv.slice(2),
  { baseline: { type: 'string' }, against: { type: 'string' }, pairs: { type: 'string', default: '30' }, processes: { type: 'string', default: '5' } },
  usage,
);
if (!values.baseline === !values.against) badFlag('give one of --baseline and --against', usage);
const pairs = countFlag('pairs', values.pairs, 30, usage);
const generations = countFlag('processes', values.processes, 5, usage);
if (generations > pairs) badFlag(`--processes: expected a whole number from 1 to --pairs, got "${values.processes}"`, usage);
const against = values.against === undefined ? undefined : referenceTargets.find((t) => t.id === values.against);
if (values.against !== undefined && !against) badFlag(`--against: one of ${referenceTargets.map((t) => t.id).join(', ')}`, usage);
const repo = new URL('..', import.meta.url).pathname;
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const median = (xs: number[]) => percentile(xs, 50);

/** A detached worktree of `ref` sharing this checkout's node_modules, built as `npm start` runs it. */
function buildBaseline(ref: string): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'gomodel-pair-'));
  execFileSync('git', ['worktree', 'add', '--detach', root, ref], { cwd: repo, stdio: 'ignore' });
  const remove = () => execFileSync('git', ['worktree', 'remove', '--force', root], { cwd: repo, stdio: 'ignore' });
  try {
    symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
    execFileSync('npm', ['run', '-s', 'build:server'], { cwd: root, stdio: 'inherit' });
  } catch (err) {
    remove();
    throw err;
  }
  return { root, remove };
}

/** One side's figures, pooled over every pair of processes. */
interface Side {
  label: string;
  ttftMs: number[];
  c1P50Ms: number[];
  c1P99Ms: number[];
  c16Rps: number[];
}

/** One side's running process of the current generation. */
interface Running {
  side: Side;
  server: Server;
  headers: Record<string, string>;
  agent: Agent;
}

const placement = throughputPlacement();
const cleanups: (() => Promise<void> | void)[] = [];
try {
  execFileSync('npm', ['run', '-s', 'build:server'], { cwd: repo, stdio: 'inherit' });
  const baseline = values.baseline ? buildBaseline(values.baseline) : null;
  if (baseline) cleanups.push(() => baseline.remove());

  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(join(repo, 'bench/mock-upstream.ts')), port: mockPort, env: { PORT: String(mockPort) } });
  cleanups.push(() => mock.stop());
  const targetA = baseline ? gateway('baseline', `gomodel-ts at ${values.baseline}`, {}, true, baseline.root) : against!;
  const targetB = gateway('gomodel', 'gomodel-ts (working tree)', {});
  const side = (t: Target): Side => ({ label: t.label, ttftMs: [], c1P50Ms: [], c1P99Ms: [], c16Rps: [] });
  const sides = [side(targetA), side(targetB)] as const;
  const [a, b] = sides;
  /** B's c=16 ratio to A for each pair of processes: how far one pair of processes strays. */
  const generationRatios: number[] = [];

  const json = chatBody(INSTANT, false);
  const stream = chatBody(INSTANT, true);
  const load = async (s: Running, connections: number, seconds: number) => {
    const r = await wrk({ url: s.server.url + PATH, body: json, headers: s.headers, connections, durationSeconds: seconds, cpus: connections > 1 ? placement?.harness : undefined });
    if (r.errors) throw new Error(`${s.side.label}: ${r.errors} errors under load`);
    return r;
  };
  log(placement ? `c=16 with the targets on CPU ${placement.target}, wrk, the mock and PostgreSQL (nice 19) on CPU ${placement.harness}; streams and c=1 on any CPU, c=1 with the databases paused` : 'unplaced (one core, or no taskset)');

  let pair = 0;
  for (let g = 0; g < generations; g++) {
    const stops: (() => Promise<void>)[] = [];
    const databases: BenchDatabase[] = [];
    try {
      const running: Running[] = [];
      for (const [i, target] of [targetA, targetB].entries()) {
        const db = await createDatabase(`pair_${g}_${i}`);
        databases.push(db);
        stops.push(() => db.drop());
        const ctx = { mock, databaseUrl: db.url };
        const server = await target.start(ctx);
        stops.push(() => server.stop());
        running.push({ side: sides[i as 0 | 1], server, headers: target.headers(ctx), agent: new Agent({ keepAlive: true, maxSockets: 1 }) });
      }
      const [ra, rb] = running as [Running, Running];
      // As in the bench: loads at c=16 with the targets on one core and the mock, wrk and
      // PostgreSQL (nice 19) on the other; streams and c=1 on any core, c=1 with the databases paused.
      const place = (placed: boolean) => {
        if (!placement) return;
        for (const s of running) pin(s.server.pids, placed ? placement.target : allCpus());
        pin(mock.pids, placed ? placement.harness : allCpus());
      };
      place(true);
      log(`processes ${g + 1}/${generations}: warm-up, 10 s at c=16 each`);
      for (const s of running) await load(s, 16, 10);
      if (placement) for (const db of databases) deprioritize(await backendPids(db), placement.harness);

      const first = pair;
      const end = Math.round(((g + 1) * pairs) / generations);
      for (; pair < end; pair++) {
        const order = pair % 2 ? [rb, ra] : [ra, rb];
        place(false);
        for (const s of order) {
          const block = await timeStreamBlock(s.server.url + PATH, s.headers, stream, s.agent);
          s.side.ttftMs.push(median(block.timed.map((t) => t.ttftMs)));
          const resume = await settleDatabases(s.server.url, s.headers, json, databases, true);
          const c1 = await load(s, 1, 1).finally(resume);
          s.side.c1P50Ms.push(c1.p50Ms);
          s.side.c1P99Ms.push(c1.p99Ms);
        }
        place(true);
        for (const s of order) s.side.c16Rps.push((await load(s, 16, 2)).rps);
        log(`pair ${pair + 1}/${pairs}: c=16 ${Math.round(a.c16Rps[pair]!)} / ${Math.round(b.c16Rps[pair]!)} req/s, first token ${a.ttftMs[pair]!.toFixed(3)} / ${b.ttftMs[pair]!.toFixed(3)} ms (A / B)`);
      }
      generationRatios.push(median(b.c16Rps.slice(first, pair).map((x, i) => x / a.c16Rps[first + i]!)));
    } finally {
      for (const stop of stops.reverse()) await stop();
    }
  }

  const diffs = (f: (s: Side) => number[]) => f(b).map((x, i) => x - f(a)[i]!);
  const ttft = diffs((s) => s.ttftMs);
  const c1 = diffs((s) => s.c1P50Ms);
  const c1p99 = diffs((s) => s.c1P99Ms);
  const ratio = b.c16Rps.map((x, i) => x / a.c16Rps[i]!);
  const ms = (x: number) => x.toFixed(3);
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  console.log(`
A: ${a.label}; B: ${b.label}; ${pairs} pairs over ${generations} pairs of fresh processes, each pair: a block of ${STREAM_BLOCK} streams (the first untimed), 1 s at c=1, 2 s at c=16.

| figure | A (median) | B (median) | B against A, pair by pair |
| --- | --- | --- | --- |
| first token, ms (block medians) | ${ms(median(a.ttftMs))} | ${ms(median(b.ttftMs))} | ${ms(median(ttft))} ms median difference; B sooner in ${ttft.filter((d) => d < 0).length} of ${pairs} |
| c=1 p50, ms | ${ms(median(a.c1P50Ms))} | ${ms(median(b.c1P50Ms))} | ${ms(median(c1))} ms median difference; B faster in ${c1.filter((d) => d < 0).length} of ${pairs} |
| c=1 p99, ms | ${ms(median(a.c1P99Ms))} | ${ms(median(b.c1P99Ms))} | ${ms(median(c1p99))} ms median difference; B faster in ${c1p99.filter((d) => d < 0).length} of ${pairs} |
| c=16 req/s | ${Math.round(median(a.c16Rps))} | ${Math.round(median(b.c16Rps))} | B/A ${pct(median(ratio))} median (${pct(Math.min(...ratio))}–${pct(Math.max(...ratio))}); B ahead in ${ratio.filter((r) => r > 1).length} of ${pairs} |

c=16 B/A by pair of processes (median of its pairs): ${generationRatios.map(pct).join(' · ')}; B ahead in ${generationRatios.filter((r) => r > 1).length} of ${generations}.`);
} finally {
  for (const c of cleanups.reverse()) await c();
}
