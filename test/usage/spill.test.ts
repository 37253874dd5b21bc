import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SpillFiles } from '../../src/usage/spill.ts';
import { usageRow } from '../support/usage-rows.ts';

it('never writes a row into a file that was already claimed for replay', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-spill-race-'));
  const spill = new SpillFiles(dir);
  const written = new Set<string>();
  const replayed: string[] = [];
  const appends: Promise<void>[] = [];
  const append = () => {
    const row = usageRow();
    written.add(row.id);
    appends.push(spill.append([JSON.stringify(row)]));
  };
  for (let round = 0; round < 50; round++) {
    append();
    // rows arriving while a replay claims the files, as they do under load
    const claiming = spill.claim();
    append();
    append();
    for (const file of await claiming) {
      for (const line of (await readFile(file, 'utf8')).trim().split('\n')) replayed.push((JSON.parse(line) as { id: string }).id);
      await spill.remove(file);
    }
  }
  await Promise.all(appends);
  for (const file of await spill.claim()) {
    for (const line of (await readFile(file, 'utf8')).trim().split('\n')) replayed.push((JSON.parse(line) as { id: string }).id);
  }
  expect(replayed.length).toBe(written.size);
  expect(new Set(replayed)).toEqual(written);
  await rm(dir, { recursive: true, force: true });
});
