import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createTestDatabase } from './gateway.ts';
import { startLocalProvider, type LocalProvider } from './local-provider.ts';
import { freePort, spawnGateway as spawnProcess } from './process.ts';
import { realFetch } from './real-fetch.ts';
import { TcpProxy } from './tcp-proxy.ts';


export interface ChildGateway {
  proc: ChildProcess;
  url: string;
  /** What it wrote to stdout (its log lines). */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** Gateways spawned and not yet exited: a rig's stop() kills them, so a failed or timed-out test leaves none running. */
const running = new Set<ChildProcess>();

/** The gateway as a process of its own, on a free port; `env` is all it sees besides PATH and HOME. */
export async function spawnGateway(env: Record<string, string>): Promise<ChildGateway> {
  const port = await freePort();
  const proc = spawnProcess({ PORT: String(port), LOG_LEVEL: 'error', ...env }, 'pipe');
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  running.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  return { proc, url: `http://127.0.0.1:${port}`, output: () => out, exited };
}

/** Waits until the gateway answers /health (it is listening; the database may be down). */
export async function untilListening(gw: ChildGateway, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await realFetch(`${gw.url}/health`).then((r) => r.status).catch(() => 0)) !== 200) {
    if (gw.proc.exitCode !== null) throw new Error(`gateway exited with ${gw.proc.exitCode} before listening:\n${gw.output()}`);
    if (Date.now() > deadline) throw new Error(`gateway ${gw.url} did not listen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What a test needs around gateways run as processes: its database behind a proxy it controls, a local provider, a data directory. */
export interface ProcessRig {
  sql: Sql;
  proxy: TcpProxy;
  provider: LocalProvider;
  /** The environment pointing a gateway at all three. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function processRig(providerDelayMs = 0): Promise<ProcessRig> {
  const db = await createTestDatabase();
  const sql = connect(db.url, 2);
  const proxy = await TcpProxy.start(new URL(db.url));
  const provider = await startLocalProvider(providerDelayMs);
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-process-'));
  return {
    sql,
    proxy,
    provider,
    env: { POSTGRES_URL: proxy.through(db.url), OPENAI_BASE_URL: provider.baseUrl, OPENAI_API_KEY: 'sk-local', GOMODEL_DATA_DIR: dir },
    async stop() {
      for (const proc of running) proc.kill('SIGKILL');
      provider.close();
      await proxy.close();
      await sql.end();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
