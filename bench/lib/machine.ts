import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { loadAverage } from './proc-stats.ts';
import { serverVersion } from './postgres.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  postgres: string;
  wrk: string;
  commit: string;
  loadAverageAtStart: [number, number, number];
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function describeMachine(): Promise<Machine> {
  const dirty = git('status', '--porcelain', '--', 'src', 'openapi.json') !== '';
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: await serverVersion(),
    // wrk -v prints its version and usage, and exits with 1.
    wrk: /wrk (\S+)/.exec(spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown',
    commit: `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (src modified)' : ''}`,
    loadAverageAtStart: loadAverage(),
  };
}
