import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { currentNode, runFile, type Runtime } from './runtimes.ts';

export interface Server {
  name: string;
  url: string;
  /** The process and its descendants (cluster workers), as found once it was ready. */
  pids: number[];
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  port: number;
  cwd?: string;
}

/** Children of every process, from /proc/<pid>/stat (field 4 is the parent pid). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i]!) ?? []));
  return found;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(child: ChildProcess, spec: ServerSpec, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${spec.name} exited with ${child.exitCode} before listening:\n${output()}`);
    if (await portOpen(spec.port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${spec.name} did not listen on :${spec.port} within ${timeoutMs} ms:\n${output()}`);
}

const running = new Set<ChildProcess>();
let cleanupInstalled = false;

/** Servers must not outlive the harness, also when it is interrupted or fails. */
function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of running) child.kill('SIGTERM');
      process.exit(130);
    });
  }
}

/** Starts a server process and resolves once it accepts connections on its port. */
export async function startServer(spec: ServerSpec, readyTimeoutMs = 30_000): Promise<Server> {
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Kept for error messages; bounded so a chatty server cannot grow the harness.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  // BENCH_SERVER_LOGS=<dir>: every server's whole output, for finding what went wrong in a run.
  const logDir = process.env.BENCH_SERVER_LOGS;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const file = createWriteStream(join(logDir, `${spec.name}.log`));
    child.stdout!.pipe(file);
    child.stderr!.pipe(file);
  }
  installCleanup();
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  await waitForPort(child, spec, () => output, readyTimeoutMs);
  return {
    name: spec.name,
    url: `http://127.0.0.1:${spec.port}`,
    pids: descendants(child.pid!),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The gateway as `npm start` runs it: the compiled build (bench/run.ts brings it up to date
 * first) with the start script's V8 flags (the heap sizes README "Memory" explains), under
 * `runtime` (the bench's Node unless given: the same build and flags under each). `root` is the
 * checkout to run, this one unless given (bench/pair.ts runs an older commit's beside it).
 */
export function builtGateway(root = new URL('../../', import.meta.url).pathname, runtime: Runtime = currentNode) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [node, ...args] = pkg.scripts.start.split(/\s+/);
  if (node !== 'node' || args.at(-1) !== 'dist/src/main.js') throw new Error(`unexpected start script: ${pkg.scripts.start}`);
  return runFile(runtime, args.slice(0, -1), join(root, 'dist/src/main.js'));
}

/** Runs TypeScript under Node with the tsx loader in one process (the `tsx` CLI adds a parent). */
export const tsNode = (file: string, ...args: string[]) => ({ command: process.execPath, args: ['--import', 'tsx', file, ...args] });

/** Every process whose command name is `name` (e.g. all PostgreSQL backends of the machine). */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
