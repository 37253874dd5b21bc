import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Where the throughput stage runs: the targets on `target`, loaded one at a time; wrk, the mock
 * upstream and the gateway's PostgreSQL backends on `harness`. Unplaced on a 2-core machine, every
 * process of a load competes for both cores, and a proxy's rate measures the scheduler as much as the proxy
 * (the same gomodel-ts build measured 0.48-0.62 of the bare proxy's rate from one minute to the next).
 */
export interface Placement {
  target: string;
  harness: string;
}

const cpuList = (from: number, to: number) => (from === to ? String(from) : `${from}-${to}`);

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Core 0 for the target and the rest for the harness; null on one core or without taskset (util-linux). */
export function throughputPlacement(): Placement | null {
  const n = availableParallelism();
  if (n < 2 || !hasTaskset()) return null;
  return { target: '0', harness: cpuList(1, n - 1) };
}

export const allCpus = () => cpuList(0, availableParallelism() - 1);

/** Moves every thread of the processes onto `cpus`; returns false when one could not be moved. */
export function pin(pids: readonly number[], cpus: string): boolean {
  let ok = true;
  for (const pid of pids) {
    try {
      execFileSync('taskset', ['-apc', cpus, String(pid)], { stdio: 'ignore' });
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** Moves the processes onto `cpus` at CPU priority `nice`; returns false when one could not be. */
function place(pids: readonly number[], cpus: string, nice: number): boolean {
  let ok = pin(pids, cpus);
  for (const pid of pids) {
    try {
      execFileSync('renice', ['-n', String(nice), '-p', String(pid)], { stdio: 'ignore' });
    } catch {
      ok = false;
    }
  }
  return ok;
}

/**
 * Pins the processes to `cpus` at the lowest CPU priority (nice 19). For the gateway's PostgreSQL
 * backends on the harness's core: an INSERT of a thousand usage rows every ~150 ms otherwise takes
 * that core from the mock upstream and wrk in bursts, which slows the traffic offered to the
 * gateway, not the gateway (pinned, the bare proxy's core never waits on it, nor would a gateway
 * whose database is on another machine).
 */
export const deprioritize = (pids: readonly number[], cpus: string): boolean => place(pids, cpus, 19);

/** Undoes `deprioritize`: every CPU, normal priority. */
export const restore = (pids: readonly number[]): boolean => place(pids, allCpus(), 0);
