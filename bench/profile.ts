/**
 * Where the gateway's CPU goes, request by request, against the bare proxy's: each is loaded at
 * c=16 placed as the throughput stage places it, and `perf record` samples its processes every
 * 0.5 ms of CPU with their call stacks (V8's perf map names the JIT frames). Prints µs of CPU
 * per request twice over: by what was running (the kernel, the collector, V8's builtins, …),
 * and by the innermost JavaScript frame on the stack, so that the builtins, the runtime and
 * the system calls a module's code calls are charged to that module; then the gateway's own
 * functions, charged the same way. Needs perf (Debian: linux-perf), allowed to sample other
 * processes.
 *
 *   npm run bench:profile [-- --seconds=8] [-- --workers=2]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countFlag, readFlags } from './lib/cli.ts';
import { allCpus, deprioritize, pin, throughputPlacement } from './lib/cpus.ts';
import { startServer, tsNode } from './lib/processes.ts';
import { freePort } from './lib/ports.ts';
import { backendPids, createDatabase } from './lib/postgres.ts';
import { wrk } from './lib/wrk.ts';
import { chatBody, INSTANT } from './proxy/payloads.ts';
import { PATH } from './proxy/run.ts';
import { gateway, referenceTargets } from './proxy/targets.ts';

const usage = 'usage: npm run bench:profile -- [--seconds=N (default 8)] [--workers=N (default 1)]';
const values = readFlags(process.argv.slice(2), { seconds: { type: 'string', default: '8' }, workers: { type: 'string', default: '1' } }, usage);
const seconds = countFlag('seconds', values.seconds, 8, usage);
const workers = countFlag('workers', values.workers, 1, usage);
try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench:profile needs perf (Debian: apt-get install linux-perf)');
  process.exit(2);
}

/** CPU time a sample stands for: perf samples every PERIOD_NS of task clock. */
const PERIOD_NS = 500_000;
const repo = new URL('..', import.meta.url).pathname;
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

/** What a sampled symbol is, from perf's `dso` and `symbol` columns. */
function category(dso: string, symbol: string): string {
  if (dso === '[kernel.kallsyms]') return /^pvm_/.test(symbol) ? 'kernel: hypervisor (pvm_*)' : 'kernel: other';
  if (dso.startsWith('[JIT]') || dso.startsWith('perf-')) {
    if (symbol.includes('node:')) return "JS: Node's own (node:*)";
    if (symbol.includes('/node_modules/')) return 'JS: npm packages';
    if (symbol.includes('file://')) return 'JS: the proxy’s own code';
    return 'JS: other (regexps, stubs)';
  }
  if (dso === 'node') {
    if (/Scaveng|Heap::|MarkCompact|ConcurrentMarking|Marking|Sweeper|GCTracer|RecordWrite|MemoryAllocator|ArrayBufferSweeper/.test(symbol)) return 'V8: garbage collection';
    if (/Json/.test(symbol)) return 'V8: JSON';
    if (symbol.startsWith('Builtins_')) return 'V8: builtins (ICs, promises, calls)';
    if (symbol.startsWith('v8::')) return 'V8: runtime (properties, strings, maps)';
    return 'Node C++ and libuv';
  }
  if (dso.startsWith('libc')) return 'libc (malloc, memcpy)';
  return 'other libraries';
}

interface Profile {
  label: string;
  requests: number;
  rps: number;
  /** µs of CPU per request: by what ran, by the innermost JavaScript frame's module, by our own function. */
  categories: Map<string, number>;
  modules: Map<string, number>;
  functions: Map<string, number>;
  /** Share of each core's time that was idle during the load. */
  idle: number[];
}

function cpuTimes(): number[][] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => l.split(/\s+/).slice(1).map(Number));
}

/** perf report's sample count per (dso, symbol), from `--sort dso,sym -n` (columns: overhead, samples, dso, [level] symbol). */
function samples(data: string): { dso: string; symbol: string; n: number }[] {
  const out = execFileSync('perf', ['report', '-i', data, '--no-children', '--sort', 'dso,sym', '-n', '--stdio', '-g', 'none'], { maxBuffer: 64 << 20, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const rows: { dso: string; symbol: string; n: number }[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*[\d.]+%\s+(\d+)\s+(\[JIT\] tid \d+|\S+)\s+\[.\]\s+(.*)$/.exec(line);
    if (m) rows.push({ n: Number(m[1]), dso: m[2]!.startsWith('[JIT]') ? '[JIT]' : m[2]!, symbol: m[3]!.trim().replace(/0x[0-9a-f]+/g, '') });
  }
  return rows;
}

const NO_JS = '(no JavaScript on the stack: socket reads, HTTP parsing, the collector, the event loop)';

/**
 * Each sample's stack from `perf script`, charged to the module of its innermost JavaScript frame
 * (`JS:*name file:///…/dist/src/x.js:1:2` or `node:_http_client`), and to the innermost frame of
 * this checkout's own code, when there is one.
 */
function stacks(data: string, count: (module: string, own: string | null) => void): void {
  const out = execFileSync('perf', ['script', '-i', data, '-F', 'ip,sym'], { maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let module: string | null = null;
  let own: string | null = null;
  let frames = 0;
  const end = () => {
    if (frames) count(module ?? NO_JS, own);
    module = own = null;
    frames = 0;
  };
  for (const line of out.split('\n')) {
    if (!line.trim()) {
      end();
      continue;
    }
    frames++;
    const js = /\sJS:[*~^]?(\S*) (?:file:\/\/(\S+?)|(node:[\w/]+)):(\d+):\d+/.exec(line);
    if (!js) continue;
    const file = js[2] ? js[2].replace(repo, '') : js[3]!;
    module ??= file;
    if (own === null && js[2]?.startsWith(repo) && !js[2].includes('/node_modules/')) own = `${js[1] || '(anonymous)'} ${file.replace(/^dist\//, '')}:${js[4]}`;
  }
  end();
}

async function profile(label: string, url: string, headers: Record<string, string>, pids: number[], dir: string, wrkCpus: string | undefined): Promise<Profile> {
  const data = join(dir, `${label.replace(/\W+/g, '-')}.data`);
  const rec = spawn('perf', ['record', '-e', 'task-clock', '-c', String(PERIOD_NS), '-g', '-p', pids.join(','), '-o', data], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const before = cpuTimes();
  const r = await wrk({ url: url + PATH, body: chatBody(INSTANT, false), headers, connections: 16, durationSeconds: seconds, cpus: wrkCpus });
  const after = cpuTimes();
  rec.kill('SIGINT');
  await new Promise((resolve) => rec.once('exit', resolve));
  if (r.errors) throw new Error(`${label}: ${r.errors} errors under load`);
  // perf runs from half a second before wrk to a moment after it, while the target idles.
  const perRequest = (n: number) => (n * PERIOD_NS) / 1000 / r.requests;
  const add = (m: Map<string, number>, key: string, n: number) => m.set(key, (m.get(key) ?? 0) + perRequest(n));
  const categories = new Map<string, number>();
  for (const s of samples(data)) add(categories, category(s.dso, s.symbol), s.n);
  const modules = new Map<string, number>();
  const functions = new Map<string, number>();
  stacks(data, (module, own) => {
    add(modules, module.replace(/^dist\//, ''), 1);
    if (own) add(functions, own, 1);
  });
  const idle = after.map((t, i) => {
    const total = t.reduce((a, b) => a + b, 0) - before[i]!.reduce((a, b) => a + b, 0);
    return (t[3]! + t[4]! - before[i]![3]! - before[i]![4]!) / total;
  });
  return { label, requests: r.requests, rps: r.rps, categories, modules, functions, idle };
}

const placement = throughputPlacement();
const dir = mkdtempSync(join(tmpdir(), 'gomodel-profile-'));
const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
try {
  execFileSync('npm', ['run', '-s', 'build:server'], { cwd: repo, stdio: 'inherit' });
  // Every Node process started from here writes /tmp/perf-<pid>.map, perf's names for JIT code.
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim();
  const mockPort = await freePort();
  const mock = await startServer({ name: 'mock', ...tsNode(join(repo, 'bench/mock-upstream.ts')), port: mockPort, env: { PORT: String(mockPort) } });
  cleanups.push(() => mock.stop());
  const db = await createDatabase('profile');
  cleanups.push(() => db.drop());
  const ctx = { mock, databaseUrl: db.url };
  const bare = referenceTargets.find((t) => t.id === 'bare')!;
  const gw = gateway('gomodel', workers > 1 ? `gomodel-ts, ${workers} workers` : 'gomodel-ts', workers > 1 ? { GOMODEL_WORKERS: String(workers) } : {});
  const sides = [];
  for (const t of [bare, gw]) {
    const server = await t.start(ctx);
    cleanups.push(() => server.stop());
    for (const pid of server.pids) cleanups.push(() => rmSync(`/tmp/perf-${pid}.map`, { force: true }));
    sides.push({ target: t, server, headers: t.headers(ctx) });
  }
  cleanups.push(() => rmSync(`/tmp/perf-${mock.pids[0]}.map`, { force: true }));
  if (placement) {
    pin(mock.pids, placement.harness);
    for (const s of sides) pin(s.server.pids, s.target.everyCpu ? allCpus() : placement.target);
  }
  log(placement ? `c=16; the targets on CPU ${placement.target} (several workers on every CPU), wrk, the mock and PostgreSQL (nice 19) on CPU ${placement.harness}` : 'unplaced (one core, or no taskset)');
  for (const s of sides) await wrk({ url: s.server.url + PATH, body: chatBody(INSTANT, false), headers: s.headers, connections: 16, durationSeconds: 10, cpus: placement?.harness });
  if (placement) deprioritize(await backendPids(db), placement.harness);
  const profiles: Profile[] = [];
  for (const s of sides) {
    log(`${s.target.label}: ${seconds} s at c=16 under perf record`);
    profiles.push(await profile(s.target.label, s.server.url, s.headers, s.server.pids, dir, placement?.harness));
  }

  const [b, g] = profiles as [Profile, Profile];
  const us = (x: number | undefined) => (x ?? 0).toFixed(1);
  const total = (p: Profile) => [...p.categories.values()].reduce((a, c) => a + c, 0);
  /** Rows of a per-request map for both sides, largest difference first; the smallest folded into one. */
  const rows = (of: (p: Profile) => Map<string, number>, min = 0.3) => {
    const keys = [...new Set([...of(b).keys(), ...of(g).keys()])];
    const d = (k: string) => (of(g).get(k) ?? 0) - (of(b).get(k) ?? 0);
    const shown = keys.filter((k) => Math.abs(d(k)) >= min || (of(b).get(k) ?? 0) >= min || (of(g).get(k) ?? 0) >= min).sort((x, y) => d(y) - d(x));
    const rest = keys.filter((k) => !shown.includes(k));
    const sum = (p: Profile) => rest.reduce((a, k) => a + (of(p).get(k) ?? 0), 0);
    const lines = shown.map((k) => `| ${k.replace(/\|/g, '\\|')} | ${us(of(b).get(k))} | ${us(of(g).get(k))} | ${us(d(k))} |`);
    if (rest.length) lines.push(`| ${rest.length} others | ${us(sum(b))} | ${us(sum(g))} | ${us(sum(g) - sum(b))} |`);
    return lines.join('\n');
  };
  const head = `| | ${b.label} | ${g.label} | difference |\n| --- | --- | --- | --- |`;
  const idle = (p: Profile) => p.idle.map((x, i) => `CPU ${i} ${(x * 100).toFixed(0)}%`).join(', ');
  const own = [...g.functions].sort((x, y) => y[1] - x[1]);
  const ownTotal = own.reduce((a, [, v]) => a + v, 0);
  console.log(`
${seconds} s at c=16 each, in turn; µs of CPU per request, every sampled thread of the target's processes (perf, task clock, a sample per 0.5 ms).

${head}
| req/s | ${Math.round(b.rps)} | ${Math.round(g.rps)} | ${((g.rps / b.rps) * 100).toFixed(0)}% |
| idle during the load | ${idle(b)} | ${idle(g)} | |
| **CPU µs per request** | **${us(total(b))}** | **${us(total(g))}** | **${us(total(g) - total(b))}** |

By what was running:

${head}
${rows((p) => p.categories, 0)}

By the innermost JavaScript frame's module (what a module's code calls, builtins and system calls included, is charged to it):

${head}
${rows((p) => p.modules)}

${g.label}'s own functions, charged the same way (innermost frame of its own code; ${us(ownTotal)} µs a request in all):

| µs | function |
| --- | --- |
${own
  .filter(([, v]) => v >= 0.3)
  .map(([k, v]) => `| ${v.toFixed(1)} | ${k} |`)
  .join('\n')}`);
} finally {
  for (const c of cleanups.reverse()) await c();
}
