/**
 * What the usage journal adds to a request, measured inside one process so that other work on the
 * machine barely moves it: the CPU time per row of appending and group-committing (one write() per
 * event-loop turn), and how long a response waits for its row to be acknowledged, for 1 row a turn
 * (c=1: every row pays a write of its own) up to 64 (a loaded gateway: one write for many rows).
 * `--fsync=0` shows USAGE_JOURNAL_FSYNC_INTERVAL=0 (an fdatasync before every acknowledgement).
 * `--audit=on` also makes each request's audit entry (src/http/audit.ts) and journals it beside
 * the row, as the gateway does; `--audit=bodies` with a 1 KB request and 1.3 KB reply stored
 * (AUDIT_BODIES=true: redacted and capped on the way).
 *
 *   npm run bench:journal -- [--seconds=2] [--fsync=1000] [--audit=off|on|bodies]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Journal } from '../src/usage/journal.ts';
import { rowLine } from '../src/usage/row-line.ts';
import { AuditLog } from '../src/http/audit.ts';
import { Redactor } from '../src/redact.ts';
import { rng, syntheticRow } from './analytics/rows.ts';
import { badFlag, readFlags } from './lib/cli.ts';
import { percentile } from './lib/stats.ts';

const usage = 'usage: npm run bench:journal -- [--seconds=2] [--fsync=<ms, default 1000>] [--audit=off|on|bodies]';
const values = readFlags(process.argv.slice(2), { seconds: { type: 'string', default: '2' }, fsync: { type: 'string', default: '1000' }, audit: { type: 'string', default: 'off' } }, usage);
if (!['off', 'on', 'bodies'].includes(values.audit)) badFlag(`--audit: expected off, on or bodies, got "${values.audit}"`, usage);
const seconds = Number(values.seconds);
const fsyncIntervalMs = Number(values.fsync);
if (!(seconds > 0)) badFlag(`--seconds: expected a positive number, got "${values.seconds}"`, usage);
if (!Number.isInteger(fsyncIntervalMs) || fsyncIntervalMs < 0) badFlag(`--fsync: expected whole milliseconds, got "${values.fsync}"`, usage);

const rand = rng(7);
const lines = Array.from({ length: 4096 }, (_, i) => rowLine(syntheticRow(rand, Date.now(), i)));
const dir = mkdtempSync(join(tmpdir(), 'gomodel-bench-journal-'));
const journal = await Journal.open(dir, { fsyncIntervalMs }, pino({ level: 'warn' }));

// What a chat request's audit entry is made from: the request as Node parsed it, its body, the reply.
const audit =
  values.audit === 'off'
    ? null
    : new AuditLog({ enabled: true, bodies: values.audit === 'bodies', bodyMaxBytes: 64 * 1024, redactFields: ['api_key', 'authorization', 'password'] }, new Redactor(['sk-bench-provider-key-0123456789']), null as never);
const headers = { host: '127.0.0.1:8080', authorization: 'Bearer sk-bench-master', 'content-type': 'application/json', 'user-agent': 'OpenAI/Python 1.54.0', 'x-session-id': 'bench-session' };
const req = { method: 'POST', headers, rawHeaders: Object.entries(headers).flat(), socket: { remoteAddress: '127.0.0.1' } } as never;
const content = 'Summarise the following paragraph in two sentences. '.repeat(16);
const requestBody = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }], temperature: 0.2 }));
const reply = Buffer.from(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: content.slice(0, 900) }, finish_reason: 'stop' }], usage: { prompt_tokens: 210, completion_tokens: 180, total_tokens: 390 } }));
function auditLineOf(i: number): string {
  const t = audit!.begin(req, `req-${i}`, '/v1/chat/completions');
  t.body = requestBody;
  t.requested = 'gpt-4o-mini';
  t.routed('openai', 'openai', 'gpt-4o-mini');
  if (audit!.settings.bodies) t.response = reply;
  return t.finish(200)!;
}
if (audit) console.log(`audit line: ${Buffer.byteLength(auditLineOf(0))} bytes (usage row line: ${Buffer.byteLength(lines[0]!)} bytes)\n`);

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
      if (audit) journal.append(auditLineOf(rows), true);
      // committed at once, as the database would: the segment can go at its next rotation
      journal.settle(seg, audit ? 2 : 1);
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
