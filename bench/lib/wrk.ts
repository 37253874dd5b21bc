import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = new URL('../wrk/post.lua', import.meta.url).pathname;

export interface WrkRun {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  /** CPUs wrk runs on (taskset -c); anywhere when unset. */
  cpus?: string;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors and non-2xx replies; a run with any is not a valid measurement. */
  errors: number;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  errors: Record<string, number>;
}

let bodySeq = 0;

/**
 * One closed-loop wrk run with a single thread: wrk is C and event-driven, so one thread drives
 * 128 connections at far more than these servers can answer while taking the least CPU from
 * them on a 2-core machine (a Node load generator such as autocannon needs a core of its own).
 */
export async function wrk(r: WrkRun): Promise<WrkResult> {
  const bodyFile = join(tmpdir(), `gomodel-bench-body-${process.pid}-${bodySeq++}.json`);
  writeFileSync(bodyFile, r.body);
  const headerArgs = Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`);
  const args = ['-t1', `-c${r.connections}`, `-d${r.durationSeconds}s`, '--timeout', '10s', '-s', script, r.url, '--', bodyFile, ...headerArgs];
  const { stdout } = await run(r.cpus ? 'taskset' : 'wrk', r.cpus ? ['-c', r.cpus, 'wrk', ...args] : args, { maxBuffer: 1 << 20 }).finally(() => rmSync(bodyFile, { force: true }));
  const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
  if (!line) throw new Error(`wrk printed no result:\n${stdout}`);
  const j = JSON.parse(line) as WrkJson;
  const seconds = j.duration_us / 1e6;
  return {
    requests: j.requests,
    seconds,
    rps: j.requests / seconds,
    p50Ms: j.p50_us / 1000,
    p90Ms: j.p90_us / 1000,
    p99Ms: j.p99_us / 1000,
    maxMs: j.max_us / 1000,
    errors: Object.values(j.errors).reduce((a, b) => a + b, 0),
  };
}
