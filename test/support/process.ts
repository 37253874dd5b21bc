import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './gateway.ts';

const root = new URL('../../', import.meta.url).pathname;

export interface GatewayProcess {
  url: string;
  /** The database the gateway records into. */
  databaseUrl: string;
  proc: ChildProcess;
  /** Every line the gateway has written to stdout (its log) so far; it must log at info level or lower, to announce it listens. */
  log(): string[];
  /** Peak resident memory of the process so far (Linux: VmHWM), in bytes. */
  peakRss(): Promise<number>;
  /** SIGTERM, wait for the exit, drop the database (once, however often called). */
  stop(): Promise<void>;
}

/**
 * The gateway as an operator runs it (`src/main.ts` in its own process, config from the
 * environment only), over a fresh database: for what only a whole process shows, its log lines
 * and its memory.
 */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-process-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH, PORT: '0', POSTGRES_URL: db.url, GOMODEL_DATA_DIR: dir, LOG_LEVEL: 'info', ...env },
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const log = () => out.split('\n').filter(Boolean);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await once(proc, 'exit');
      }
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the gateway did not start listening within 45 s')), 45_000);
      const onData = () => {
        const found = log().find((l) => l.includes('gomodel-ts listening'));
        if (!found) return;
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolve(found);
      };
      proc.stdout!.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`the gateway exited with code ${code} before listening`)));
    });
    const { port } = JSON.parse(line) as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      databaseUrl: db.url,
      proc,
      log,
      async peakRss() {
        const status = await readFile(`/proc/${proc.pid}/status`, 'utf8');
        return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
      },
      stop,
    };
  } catch (err) {
    proc.kill('SIGKILL');
    await stop();
    throw err;
  }
}
