import { badFlag, countFlag, readFlags } from './lib/cli.ts';
import { currentNode, findRuntime, runtimeIds, type Runtime } from './lib/runtimes.ts';
import { targetIds } from './proxy/targets.ts';

export type Phase = 'proxy' | 'analytics' | 'ingest';
const phases: Phase[] = ['proxy', 'analytics', 'ingest'];

export interface BenchOptions {
  phases: Phase[];
  quick: boolean;
  proxy: { seconds: number; warmupSeconds: number; rewarmSeconds: number; streams: number; slowStreams: number; only: string[]; rounds: number; runtimes: Runtime[] };
  analytics: { sizes: number[]; samples: number; keep: boolean };
  ingest: { seconds: number; slowSeconds: number };
}

const usage = `npm run bench -- [flags]          (or npm run bench:proxy | bench:analytics | bench:ingest)
  --quick              short runs (2 s per load, 100k analytics rows), written to <date>-quick.{json,md}
  --phase=a,b          proxy, analytics, ingest (default: all)
  --targets=a,b        proxy targets: ${targetIds.join(', ')}; or the cache-hit stage alone: gomodel-cache
  --seconds=N          seconds per throughput load (default 3); the latency stage runs seconds × rounds one-second c=1 runs a target
  --rounds=N           throughput rounds over the proxy targets, each loading every target in turn; each target reports its median round (default 5)
  --runtime=a,b        what the gateway targets run under, each of them once under each: ${runtimeIds.join(', ')} (default: the Node running the bench, ${currentNode.id});
                       found through GOMODEL_NODE20 (else node on PATH), GOMODEL_NODE24, GOMODEL_DENO (else the versions of .ci/runtimes.json
                       under \${XDG_CACHE_HOME:-~/.cache}/gomodel-ts/runtimes/)
  --rows=1m,10m        analytics table sizes (default 1m,10m)
  --samples=N          timed requests per analytics case (default 200: a p95 of 40 is its second-largest sample)
  --keep               keep each size's analytics database (gomodel_bench_analytics_1m, …_10m) and reuse it next time
Environment: BENCH_QUICK=1, BENCH_PHASE, BENCH_TARGETS, BENCH_SECONDS, BENCH_ROUNDS, BENCH_RUNTIME, BENCH_ROWS, BENCH_SAMPLES, BENCH_KEEP_DB=1,
BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).`;

/** Stages that `--targets` may name besides the proxy targets: alone, they run without the proxy targets. */
export const stageIds = ['gomodel-cache'];

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

/** `1m`, `10m`, `250k` or a plain number of rows. */
function rows(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(v.trim());
  if (!m) return badFlag(`--rows: cannot read "${v}" (use e.g. 1m,10m)`, usage);
  return Math.round(Number(m[1]) * ({ k: 1e3, m: 1e6 }[m[2]!.toLowerCase()] ?? 1));
}

/**
 * Command-line flags (env knobs as fallbacks): `--quick` for a short trial, `--phase` to run
 * parts alone, `--targets` for a subset of the proxy targets, `--runtime` for what the gateway runs
 * under, `--rows` for the analytics sizes.
 */
export function readOptions(argv: string[]): BenchOptions {
  const values = readFlags(
    argv,
    {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      phase: { type: 'string', default: process.env.BENCH_PHASE },
      targets: { type: 'string', default: process.env.BENCH_TARGETS },
      seconds: { type: 'string', default: process.env.BENCH_SECONDS },
      rounds: { type: 'string', default: process.env.BENCH_ROUNDS },
      runtime: { type: 'string', default: process.env.BENCH_RUNTIME },
      rows: { type: 'string', default: process.env.BENCH_ROWS },
      samples: { type: 'string', default: process.env.BENCH_SAMPLES },
      keep: { type: 'boolean', default: process.env.BENCH_KEEP_DB === '1' },
    },
    usage,
  );
  const count = (flag: string, v: string | undefined, fallback: number) => countFlag(flag, v, fallback, usage);
  const quick = values.quick!;
  const chosen = list(values.phase) as Phase[];
  for (const p of chosen) if (!phases.includes(p)) badFlag(`--phase: unknown phase "${p}" (known: ${phases.join(', ')})`, usage);
  const only = list(values.targets);
  for (const t of only) if (!targetIds.includes(t) && !stageIds.includes(t)) badFlag(`--targets: unknown target "${t}" (known: ${[...targetIds, ...stageIds].join(', ')})`, usage);
  const seconds = count('seconds', values.seconds, quick ? 2 : 3);
  const asked = [...new Set(list(values.runtime))];
  // Every name is checked before any executable is asked its version.
  for (const id of asked) if (!runtimeIds.includes(id)) badFlag(`--runtime: unknown runtime "${id}" (known: ${runtimeIds.join(', ')})`, usage);
  const runtimes = asked.map((id) => {
    try {
      return findRuntime(id);
    } catch (err) {
      return badFlag((err as Error).message, usage);
    }
  });
  return {
    phases: chosen.length ? chosen : phases,
    quick,
    proxy: {
      seconds,
      // A fresh gomodel-ts takes ~10 s of load to reach its steady rate (its code is optimised as it
      // runs: 2,800 req/s in its first 3 s, 5,000-6,900 after 9 s); the bare proxy, far less code, ~1 s.
      warmupSeconds: quick ? 1 : 10,
      rewarmSeconds: quick ? 1 : 2,
      streams: quick ? 50 : 300,
      slowStreams: quick ? 10 : 60,
      only,
      rounds: count('rounds', values.rounds, quick ? 1 : 5),
      runtimes: runtimes.length ? runtimes : [currentNode],
    },
    analytics: {
      sizes: list(values.rows ?? (quick ? '100k' : '1m,10m')).map(rows),
      samples: count('samples', values.samples, quick ? 10 : 200),
      keep: values.keep!,
    },
    ingest: { seconds: quick ? 5 : 20, slowSeconds: quick ? 6 : 15 },
  };
}
