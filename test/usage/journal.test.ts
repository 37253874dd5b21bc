import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { Journal } from '../../src/usage/journal.ts';
import { rowLine } from '../../src/usage/row-line.ts';
import { usageRow } from '../support/usage-rows.ts';

const log = createLogger('silent');
const root = new URL('../../', import.meta.url).pathname;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gomodel-journal-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const open = () => Journal.open(dir, { fsyncIntervalMs: 1000 }, log);
const idOf = (line: string) => line.slice(0, line.indexOf('\t'));

/** Row ids in the journal's files, in file order (read synchronously: nothing else runs meanwhile). */
function idsOnDisk(): string[] {
  const ids: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.rows')).sort()) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) if (line) ids.push(idOf(line));
  }
  return ids;
}

async function readBack(journal: Journal, file: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const batch of journal.read(file, 7, () => {})) ids.push(...batch.map(idOf));
  return ids;
}

describe('Journal', () => {
  it('writes the rows of one event-loop turn with one commit and acknowledges them once they are in the file', async () => {
    const journal = await open();
    const rows = Array.from({ length: 50 }, () => usageRow());
    const acks = rows.map((r) => journal.append(rowLine(r), true));
    expect(new Set(acks).size).toBe(1);
    expect(idsOnDisk()).toEqual([]);
    await acks[0];
    expect(idsOnDisk()).toEqual(rows.map((r) => r.id));
    await journal.close();
  });

  it('deletes a segment only once every row in it is committed', async () => {
    const journal = await open();
    const first = journal.current;
    await Promise.all([journal.append(rowLine(usageRow()), true), journal.append(rowLine(usageRow()), true)]);
    journal.rotate();
    journal.settle(first, 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(idsOnDisk().length).toBe(2);
    journal.settle(first, 1);
    await expect.poll(idsOnDisk).toEqual([]);
    await journal.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('never appends a row to a segment already handed over to be read back, and hands over each row once', async () => {
    const journal = await open();
    const appended: string[] = [];
    const readBackIds: string[] = [];
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 3; i++) {
        const row = usageRow();
        appended.push(row.id);
        // not kept in memory: the segment must be read back
        void journal.append(rowLine(row), false);
      }
      // rows arriving while a segment is taken for reading, as they do under load
      const file = journal.nextReplayable();
      const more = usageRow();
      appended.push(more.id);
      void journal.append(rowLine(more), false);
      if (round % 2) await new Promise((r) => setImmediate(r));
      if (file) {
        readBackIds.push(...(await readBack(journal, file)));
        await journal.remove(file);
      }
    }
    await journal.close();
    readBackIds.push(...idsOnDisk());
    expect(readBackIds.sort()).toEqual(appended.sort());
  });

  it('adopts the files of a process killed with SIGKILL while its pid still exists as a zombie, never those of a live one', async () => {
    // sh starts the journaling process in the background and reaps it only once told to: killed
    // before that, it stays a zombie, its pid taken, as when a supervisor has not waited for it yet.
    const holder = spawn('sh', ['-c', `"${process.execPath}" --import tsx test/support/journal-child.ts "${dir}" 20 & read reap; wait`], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let pid: number | undefined;
    try {
      let out = '';
      holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await expect.poll(() => out.includes('\n'), { timeout: 20_000, interval: 50 }).toBe(true);
      const child = JSON.parse(out) as { pid: number; ids: string[] };
      pid = child.pid;

      const journal = await open();
      expect(await journal.adopt()).toBe(0);
      expect(journal.nextReplayable()).toBeUndefined();

      process.kill(child.pid, 'SIGKILL');
      const state = () => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]![0];
      await expect.poll(state, { timeout: 5000, interval: 20 }).toBe('Z');
      // The leader shows Z before the last of its threads has closed the descriptors they share.
      let adopted = 0;
      await expect.poll(async () => (adopted += await journal.adopt()), { timeout: 5000, interval: 20 }).toBe(1);
      expect(state()).toBe('Z');
      expect(() => process.kill(child.pid, 0)).not.toThrow();
      const file = journal.nextReplayable()!;
      const ids = await readBack(journal, file);
      expect(ids.slice(0, -1)).toEqual(child.ids);
      // the dead owner's lock socket is cleared away with its files
      expect((await readdir(dir)).filter((n) => !n.includes(`.${process.pid}-`))).toEqual([]);
      await journal.remove(file);
      await journal.close();
    } finally {
      if (pid) process.kill(pid, 'SIGKILL');
      holder.stdin!.end('\n');
    }
  });
});
