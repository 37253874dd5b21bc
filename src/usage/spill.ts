import { createReadStream } from 'node:fs';
import { appendFile, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spilledRowLine } from './row-line.ts';

/** `.rows` files hold row lines; `.jsonl` files, of earlier versions, one JSON object a row. */
const spillName = /^usage-(\d+)-(\d+-\d+)(\.rows|\.jsonl)$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Append-only files of row lines (row-line.ts) holding usage rows the database could not take
 * yet. Each process appends to its own file (`usage-<pid>-<start>-<n>.rows`); files of processes
 * that are gone are adopted by renaming them to the adopter's pid, so two processes never replay
 * the same file.
 */
export class SpillFiles {
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly started = Date.now();
  private current: string;
  private ready: Promise<unknown>;
  /** Rows appended since the last claim. */
  pending = 0;

  constructor(private readonly dir: string) {
    this.current = this.nextName();
    this.ready = mkdir(dir, { recursive: true });
  }

  private nextName(): string {
    return `usage-${process.pid}-${this.started}-${this.seq++}.rows`;
  }

  /**
   * Appends row lines; appends are serialised so lines never interleave.
   * Rejects if the disk fails.
   */
  append(rows: readonly string[]): Promise<void> {
    const text = rows.join('\n') + '\n';
    this.pending += rows.length;
    // The file is chosen when the write runs, in order with claim()'s rotation, so rows never land
    // in a file that is already being replayed.
    const write = this.chain.then(async () => {
      await this.ready;
      await appendFile(join(this.dir, this.current), text);
    });
    this.chain = write.catch(() => {});
    return write;
  }

  /** Waits for queued appends to reach the disk. */
  settled(): Promise<void> {
    return this.chain;
  }

  /**
   * Closes the current file for replay (new rows go to a fresh one) and returns every spill file
   * this process may replay: its own closed files and those of dead processes.
   */
  async claim(): Promise<string[]> {
    const rotated = this.chain.then(() => {
      this.current = this.nextName();
      this.pending = 0;
    });
    this.chain = rotated;
    await rotated;
    await this.ready;
    const claimed: string[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      const m = spillName.exec(name);
      if (!m || name === this.current) continue;
      const pid = Number(m[1]);
      if (pid === process.pid) {
        claimed.push(join(this.dir, name));
        continue;
      }
      if (alive(pid)) continue;
      const adopted = `usage-${process.pid}-${m[2]}${m[3]}`;
      try {
        await rename(join(this.dir, name), join(this.dir, adopted));
        claimed.push(join(this.dir, adopted));
      } catch {
        // another process adopted it first
      }
    }
    return claimed;
  }

  /**
   * Reads a spill file in batches of row lines; a line that is not a whole row (a torn last line
   * after a crash mid-write) is reported and skipped.
   */
  async *read(file: string, batchSize: number, onBadLine: (line: string) => void): AsyncGenerator<string[]> {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let batch: string[] = [];
    for await (const line of lines) {
      if (!line.trim()) continue;
      const row = spilledRowLine(line);
      if (row === null) {
        onBadLine(line);
        continue;
      }
      batch.push(row);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  remove(file: string): Promise<void> {
    return unlink(file);
  }
}
