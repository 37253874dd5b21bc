import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './gateway.ts';

const root = new URL('../../', import.meta.url).pathname;

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

/**
 * How the runtime running the suite runs the gateway, as its users do: Node through tsx (npm run
 * dev), Deno with the permissions of `deno task start` in deno.json.
 */
function gatewayArgs(): string[] {
  if (!('Deno' in globalThis)) return ['--import', 'tsx', 'src/main.ts'];
  const { tasks } = JSON.parse(readFileSync(join(root, 'deno.json'), 'utf8')) as { tasks: { start: { command: string } } };
  const [deno, ...args] = tasks.start.command.split(' ');
  if (deno !== 'deno' || args.at(-1) !== 'src/main.ts') throw new Error(`deno.json's start task runs "${tasks.start.command}", not deno run … src/main.ts`);
  return args;
}

export interface SpawnOptions {
  /** Arguments after the script (`--help`). */
  args?: string[];
  stderr?: 'pipe' | 'inherit';
  /** A process group of its own, as a terminal starts a command: `process.kill(-pid, …)` signals the whole group. */
  detached?: boolean;
  /** The user to run as (the suite must run as root to choose). */
  as?: { uid: number; gid: number };
  /** A Node executable to run it with (through tsx) instead of the suite's own runtime. */
  node?: string;
}

/** The gateway as a process of its own, configured by `env` alone. */
export function spawnGateway(env: Record<string, string>, stdout: 'pipe' | 'ignore' = 'ignore', opts: SpawnOptions = {}): ChildProcess {
  const [command, args] = opts.node ? [opts.node, ['--import', 'tsx', 'src/main.ts']] : [process.execPath, gatewayArgs()];
  return spawn(command, [...args, ...(opts.args ?? [])], {
    cwd: root,
    stdio: ['ignore', stdout, opts.stderr ?? 'inherit'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    detached: opts.detached,
    ...opts.as,
  });
}

/** Sends SIGTERM and resolves with the exit code (null if a signal ended the process). */
export async function terminate(proc: ChildProcess): Promise<number | null> {
  const exited = once(proc, 'exit');
  // Not proc.kill: Deno's reports a child that handled the signal and exited 0 as killed by it.
  process.kill(proc.pid!, 'SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

export interface GatewayProcess {
  url: string;
  /** The database the gateway records into. */
  databaseUrl: string;
  proc: ChildProcess;
  /** Every line the gateway has written to stdout (its log) so far; it must log at info level or lower, to announce it listens. */
  log(): string[];
  /** Peak resident memory of the process so far (Linux: VmHWM), in bytes. */
  peakRss(): Promise<number>;
  /** SIGTERM, wait for the exit, drop the database (once, however often called). */
  stop(): Promise<void>;
}

/**
 * The gateway as an operator runs it (`spawnGateway`, config from the environment only), over a
 * fresh database: for what only a whole process shows, its log lines and its memory.
 */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-process-'));
  const proc = spawnGateway({ PORT: '0', POSTGRES_URL: db.url, GOMODEL_DATA_DIR: dir, LOG_LEVEL: 'info', ...env }, 'pipe');
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const log = () => out.split('\n').filter(Boolean);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) await terminate(proc);
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the gateway did not start listening within 45 s')), 45_000);
      const onData = () => {
        const found = log().find((l) => l.includes('gomodel-ts listening'));
        if (!found) return;
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolve(found);
      };
      proc.stdout!.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`the gateway exited with code ${code} before listening`)));
    });
    const { port } = JSON.parse(line) as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      databaseUrl: db.url,
      proc,
      log,
      async peakRss() {
        const status = await readFile(`/proc/${proc.pid}/status`, 'utf8');
        return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
      },
      stop,
    };
  } catch (err) {
    proc.kill('SIGKILL');
    await stop();
    throw err;
  }
}
