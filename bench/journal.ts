/**
 * What the usage journal adds to a request, measured inside one process so that other work on the
 * machine barely moves it: the CPU time per row of appending and group-committing (one write() per
 * event-loop turn), and how long a response waits for its row to be acknowledged, for 1 row a turn
 * (c=1: every row pays a write of its own) up to 64 (a loaded gateway: one write for many rows).
 * `--fsync=0` shows USAGE_JOURNAL_FSYNC_INTERVAL=0 (an fdatasync before every acknowledgement).
 *
 *   npm run bench:journal -- [--seconds=2] [--fsync=1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Journal } from '../src/usage/journal.ts';
import { rowLine } from '../src/usage/row-line.ts';
import { rng, syntheticRow } from './analytics/rows.ts';
import { badFlag, readFlags } from './lib/cli.ts';
import { percentile } from './lib/stats.ts';

const usage = 'usage: npm run bench:journal -- [--seconds=2] [--fsync=<ms, default 1000>]';
const values = readFlags(process.argv.slice(2), { seconds: { type: 'string', default: '2' }, fsync: { type: 'string', default: '1000' } }, usage);
const seconds = Number(values.seconds);
const fsyncIntervalMs = Number(values.fsync);
if (!(seconds > 0)) badFlag(`--seconds: expected a positive number, got "${values.seconds}"`, usage);
if (!Number.isInteger(fsyncIntervalMs) || fsyncIntervalMs < 0) badFlag(`--fsync: expected whole milliseconds, got "${values.fsync}"`, usage);

const rand = rng(7);
const lines = Array.from({ length: 4096 }, (_, i) => rowLine(syntheticRow(rand, Date.now(), i)));
const dir = mkdtempSync(join(tmpdir(), 'gomodel-bench-journal-'));
const journal = await Journal.open(dir, { fsyncIntervalMs }, pino({ level: 'warn' }));

console.log(`| rows per turn | CPU per row (us) | write() per row | wait for the acknowledgement p50 / p99 (us) |`);
console.log('| --- | --- | --- | --- |');
for (const perTurn of [1, 4, 16, 64]) {
  const waits: number[] = [];
  let rows = 0;
  const cpu = process.cpuUsage();
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const started = performance.now();
    let ack: Promise<void> | undefined;
    for (let i = 0; i < perTurn; i++) {
      const seg = journal.current;
      ack = journal.append(lines[rows++ % lines.length]!, true);
      // committed at once, as the database would: the segment can go at its next rotation
      journal.settle(seg, 1);
    }
    await ack;
    waits.push((performance.now() - started) * 1000);
    if (rows % 20_000 < perTurn) journal.rotate();
  }
  const used = process.cpuUsage(cpu);
  const us = (x: number) => x.toFixed(1);
  console.log(`| ${perTurn} | ${us((used.user + used.system) / rows)} | ${(1 / perTurn).toFixed(3)} | ${us(percentile(waits, 50))} / ${us(percentile(waits, 99))} |`);
}
await journal.close();
rmSync(dir, { recursive: true, force: true });
