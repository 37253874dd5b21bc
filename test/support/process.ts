import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

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

/** The gateway as a process of its own, configured by `env` alone. */
export function spawnGateway(env: Record<string, string>, stdout: 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  return spawn(process.execPath, gatewayArgs(), {
    cwd: root,
    stdio: ['ignore', stdout, 'inherit'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
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
