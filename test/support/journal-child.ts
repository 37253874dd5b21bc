// A process that journals rows and then waits to be killed (test/usage/journal.test.ts).
import { createLogger } from '../../src/log.ts';
import { Journal } from '../../src/usage/journal.ts';
import { rowLine } from '../../src/usage/row-line.ts';
import { usageRow } from './usage-rows.ts';

const [dir, count] = process.argv.slice(2);
const journal = await Journal.open(dir!, { fsyncIntervalMs: 1000 }, createLogger('silent'));
const ids: string[] = [];
for (let i = 0; i < Number(count); i++) {
  const row = usageRow();
  ids.push(row.id);
  void journal.append(rowLine(row), false);
}
await journal.append(rowLine(usageRow({ request_id: 'last' })), false);
process.stdout.write(`${JSON.stringify({ pid: process.pid, ids })}\n`);
setInterval(() => {}, 60_000);
