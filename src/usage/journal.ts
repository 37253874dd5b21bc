import { randomBytes } from 'node:crypto';
import { appendFileSync, close, createReadStream, fdatasync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Logger } from '../log.ts';
import { OwnerLock } from './owner-lock.ts';
import { journaledRowLine } from './row-line.ts';
import { isAuditLine, journaledAuditLine } from './audit-line.ts';

const fdatasyncAsync = promisify(fdatasync);
const closeAsync = promisify(close);

/** A segment of this process's journal: `journal.<owner>.<seq>.rows`, one row line (row-line.ts) a line. */
const segmentName = /^journal\.(\d+-[0-9a-f]{8})\.\d+\.rows$/;
const lockName = /^journal\.(\d+-[0-9a-f]{8})\.lock$/;
/** Spill files of earlier versions, owned by a pid: `.rows` of row lines, `.jsonl` of JSON objects. */
const legacyName = /^usage-(\d+)-\d+-\d+\.(?:rows|jsonl)$/;

/** A segment this big is closed before its time (rows of one flush interval usually stay far below). */
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

export interface JournalOptions {
  /** fdatasync the journal this often; 0 syncs every group commit before its rows are acknowledged. */
  fsyncIntervalMs: number;
}

export interface Segment {
  readonly file: string;
  readonly fd: number;
  bytes: number;
  synced: number;
  syncing: Promise<void> | null;
  /** Rows appended and not yet committed to the database. */
  pending: number;
  /** Some of its rows are held only in the file, so it is read back once closed. */
  overflowed: boolean;
  closed: boolean;
  /** Deleted, or handed to replay: counts no longer matter. */
  retired: boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The usage journal: every row line is appended to a file of this process before the client sees
 * the end of its response. Rows appended in one turn of the event loop are written by one
 * write() when the turn ends (group commit) and acknowledged then: in the page cache a row
 * survives the process being killed; an fdatasync every `fsyncIntervalMs` bounds what a machine
 * crash can take. The file is cut into segments (one per flush interval, see rotate()); a segment
 * is deleted once every row in it is committed to the database (settle()), or read back whole
 * when some of its rows are held nowhere else (overflow()). The directory's files belong to the
 * process holding their owner's lock (owner-lock.ts); files of dead owners and spill files of
 * earlier versions are adopted by renaming them (only one process wins a rename) and replayed.
 */
export class Journal {
  current!: Segment;
  /** Rows lost because neither the journal nor memory held them (the disk failed). */
  lost = 0;
  private seq = 0;
  private group: string[] = [];
  /** Rows of the open group held only by it. */
  private groupOnly = 0;
  private groupDone: Promise<void> | null = null;
  private resolveGroup: () => void = () => {};
  private readonly commitGroup = () => this.commit();
  private readonly replayable: string[] = [];
  private readonly work = new Set<Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;
  private dirDirty = true;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly owner: string,
    private readonly lock: OwnerLock,
    private readonly opts: JournalOptions,
    private readonly log: Logger,
  ) {
    this.current = this.openSegment();
    this.timer = setInterval(() => this.syncCurrent(), opts.fsyncIntervalMs || 1000);
    this.timer.unref();
  }

  /** Takes an owner lock in `dir` and opens a first segment (the lock first: no file of a live owner exists without it). */
  static async open(dir: string, opts: JournalOptions, log: Logger): Promise<Journal> {
    await mkdir(dir, { recursive: true });
    const owner = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const lock = await OwnerLock.acquire(join(dir, `journal.${owner}.lock`));
    return new Journal(dir, owner, lock, opts, log);
  }

  private openSegment(): Segment {
    const file = join(this.dir, `journal.${this.owner}.${this.seq++}.rows`);
    this.dirDirty = true;
    return { file, fd: openSync(file, 'a'), bytes: 0, synced: 0, syncing: null, pending: 0, overflowed: false, closed: false, retired: false };
  }

  /**
   * Appends a row line to the current segment; resolves once it is written (and synced when
   * `fsyncIntervalMs` is 0). `kept` says whether memory holds the row too; a segment with a row
   * that memory does not hold is read back from its file.
   */
  append(line: string, kept: boolean): Promise<void> {
    if (this.closed) return this.appendLate(line);
    const seg = this.current;
    seg.pending++;
    if (!kept) {
      seg.overflowed = true;
      this.groupOnly++;
    }
    this.group.push(line);
    if (this.groupDone === null) {
      this.groupDone = new Promise((resolve) => (this.resolveGroup = resolve));
      setImmediate(this.commitGroup);
    }
    return this.groupDone;
  }

  /** A row recorded after close() (a request cut at shutdown): written at once to a file of its own, for the next process. */
  private appendLate(line: string): Promise<void> {
    try {
      appendFileSync(join(this.dir, `journal.${this.owner}.${this.seq++}.rows`), `${line}\n`);
    } catch (err) {
      this.lost++;
      this.log.error({ err }, 'usage row lost: journal not writable');
    }
    return Promise.resolve();
  }

  private commit(): void {
    if (this.groupDone === null) return;
    const lines = this.group;
    const only = this.groupOnly;
    const resolve = this.resolveGroup;
    this.group = [];
    this.groupOnly = 0;
    this.groupDone = null;
    const seg = this.current;
    try {
      const buf = Buffer.from(`${lines.join('\n')}\n`);
      for (let off = 0; off < buf.length; ) off += writeSync(seg.fd, buf, off);
      seg.bytes += buf.length;
    } catch (err) {
      this.lost += only;
      this.log.error({ err, rows: lines.length, lost: only }, 'usage journal write failed; rows held in memory wait there, the others are lost');
      // The failed write may have left half a line: later rows go to a fresh segment.
      this.rotate();
      resolve();
      return;
    }
    if (this.opts.fsyncIntervalMs === 0) void this.sync(seg).then(resolve);
    else resolve();
    if (seg.bytes >= MAX_SEGMENT_BYTES) this.rotate();
  }

  /** fdatasync of a segment up to what is written now; one at a time per segment. */
  private async sync(seg: Segment): Promise<void> {
    const target = seg.bytes;
    while (seg.synced < target) {
      if (!seg.syncing) {
        const upTo = seg.bytes;
        seg.syncing = fdatasyncAsync(seg.fd)
          .catch((err: unknown) => this.log.error({ err, file: seg.file }, 'usage journal fdatasync failed'))
          .then(() => {
            seg.synced = upTo;
            seg.syncing = null;
          });
      }
      await seg.syncing;
    }
  }

  private syncCurrent(): void {
    if (this.current.bytes > this.current.synced) this.track(this.sync(this.current));
    if (this.dirDirty) this.track(this.syncDir());
  }

  /** New segments' names must survive a machine crash too. */
  private async syncDir(): Promise<void> {
    this.dirDirty = false;
    try {
      const dir = await open(this.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'usage journal directory fsync failed');
    }
  }

  /** File work in the background, which close() waits for. */
  private track(p: Promise<unknown>): void {
    const done: Promise<void> = p
      .catch((err: unknown) => this.log.error({ err, dir: this.dir }, 'usage journal: file operation failed'))
      .then(() => void this.work.delete(done));
    this.work.add(done);
  }

  /** Closes the current segment (its open group written to it first) and starts a new one. */
  rotate(): void {
    this.commit();
    const old = this.current;
    try {
      this.current = this.openSegment();
    } catch (err) {
      this.log.error({ err, dir: this.dir }, 'usage journal: cannot start a new segment; appending to the current one');
      return;
    }
    this.closeSegment(old);
  }

  private closeSegment(seg: Segment): void {
    seg.closed = true;
    this.track(this.sync(seg).then(() => closeAsync(seg.fd)));
    this.retire(seg);
  }

  private retire(seg: Segment): void {
    if (!seg.closed || seg.retired) return;
    if (seg.overflowed) {
      seg.retired = true;
      this.replayable.push(seg.file);
    } else if (seg.pending === 0) {
      seg.retired = true;
      // A file it cannot delete is read again by a later process: its rows are skipped by id.
      this.track(unlink(seg.file).catch(() => {}));
    }
  }

  /** `n` rows of `seg` are committed to the database. */
  settle(seg: Segment, n: number): void {
    seg.pending -= n;
    this.retire(seg);
  }

  /** Rows of `seg` left memory uncommitted: the segment is read back from its file once closed. */
  overflow(seg: Segment): void {
    seg.overflowed = true;
    this.retire(seg);
  }

  /** Whether files wait to be read back (the current segment's rows are read once it is closed). */
  get backlog(): boolean {
    return this.replayable.length > 0 || this.current.overflowed;
  }

  /** The next file to read back into the database; the current segment is closed first if it must be read. */
  nextReplayable(): string | undefined {
    if (this.replayable.length === 0 && this.current.overflowed && !this.closed) this.rotate();
    return this.replayable.shift();
  }

  /** A file whose reading failed part-way: it is read again from the start next time. */
  putBack(file: string): void {
    this.replayable.unshift(file);
  }

  /** Every row of `file` is committed. */
  async remove(file: string): Promise<void> {
    await unlink(file);
  }

  /**
   * Adopts the files of owners that are gone (their lock refuses connections) and spill files of
   * earlier versions whose pid is gone, by renaming them into this owner's name; they join the
   * files to read back. Returns how many were adopted.
   */
  async adopt(): Promise<number> {
    const held = new Map<string, Promise<boolean>>();
    const ownerHeld = (owner: string) => {
      let h = held.get(owner);
      if (!h) held.set(owner, (h = OwnerLock.held(join(this.dir, `journal.${owner}.lock`))));
      return h;
    };
    let adopted = 0;
    const names = (await readdir(this.dir)).sort();
    for (const name of names) {
      const own = segmentName.exec(name)?.[1];
      const legacyPid = legacyName.exec(name)?.[1];
      let orphan: boolean;
      if (own !== undefined) orphan = own !== this.owner && !(await ownerHeld(own));
      // A pid equal to ours is an earlier process's (a container's pid 1 after a restart).
      else if (legacyPid !== undefined) orphan = Number(legacyPid) === process.pid || !pidAlive(Number(legacyPid));
      else continue;
      if (!orphan || this.closed) continue;
      const target = join(this.dir, `journal.${this.owner}.${this.seq++}.rows`);
      try {
        await rename(join(this.dir, name), target);
        this.replayable.push(target);
        adopted++;
      } catch {
        // another process adopted it first
      }
    }
    for (const name of names) {
      const owner = lockName.exec(name)?.[1];
      if (owner !== undefined && owner !== this.owner && !(await ownerHeld(owner))) await unlink(join(this.dir, name)).catch(() => {});
    }
    return adopted;
  }

  /**
   * Reads a journal file in batches of row lines; a line that is not a whole row (a torn last
   * line after a crash mid-write) is reported and skipped.
   */
  async *read(file: string, batchSize: number, onBadLine: (line: string) => void): AsyncGenerator<string[]> {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let batch: string[] = [];
    for await (const line of lines) {
      if (!line.trim()) continue;
      const row = isAuditLine(line) ? journaledAuditLine(line) : journaledRowLine(line);
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

  /** Writes the open group and syncs the current segment now, blocking: for an exit that cannot wait. */
  syncNow(): void {
    if (this.closed) return;
    this.commit();
    try {
      fdatasyncSync(this.current.fd);
    } catch {
      // exiting anyway; the rows are in the page cache
    }
  }

  /**
   * Writes the open group, syncs and closes the current segment, deletes what is committed and
   * releases the lock. Files still holding uncommitted rows stay for the next process.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    this.commit();
    this.closeSegment(this.current);
    this.closed = true;
    while (this.work.size) await Promise.all(this.work);
    await this.syncDir();
    await this.lock.release();
  }
}
