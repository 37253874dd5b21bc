import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/gateway.ts';
import { spawnGateway } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

const isRoot = userInfo().uid === 0;

interface Running {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves with the port once the gateway logs that it listens. */
  listening: () => Promise<number>;
  exit: Promise<number | null>;
}

/** The gateway as its users start it, in a process group of its own, as a terminal would start it. */
function gateway(env: Record<string, string>, args: string[] = [], as?: { uid: number; gid: number }, node?: string): Running {
  const proc = spawnGateway({ HOME: tmpdir(), PORT: '0', LOG_LEVEL: 'info', ...env }, 'pipe', { args, stderr: 'pipe', detached: true, as, node });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = once(proc, 'exit').then(([code]) => code as number | null);
  return {
    proc,
    out: () => out,
    err: () => err,
    exit,
    async listening() {
      await expect.poll(() => /"msg":"gomodel-ts listening"/.test(out) || proc.exitCode !== null, { timeout: 60_000, interval: 100 }).toBe(true);
      const line = out.split('\n').find((l) => l.includes('"msg":"gomodel-ts listening"'));
      if (!line) throw new Error(`gateway exited (${proc.exitCode}) before listening:\n${err}${out}`);
      return (JSON.parse(line) as { port: number }).port;
    },
  };
}

/** One line of explanation on stderr, no stack trace. */
function oneClearLine(text: string): string {
  const lines = text.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(text).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

it('--help prints the usage and the main settings instead of starting', async () => {
  const g = gateway({}, ['--help']);
  expect(await g.exit).toBe(0);
  expect(g.out()).toMatch(/^Usage: npm start/m);
  for (const setting of ['PORT', 'GOMODEL_MASTER_KEY', 'POSTGRES_URL', 'GOMODEL_DATA_DIR', 'OPENAI_API_KEY']) expect(g.out()).toContain(setting);
  expect(g.out()).not.toContain('listening');
});

it('a taken port is one clear line and a non-zero exit, for one process and for workers', async () => {
  const db = await createTestDatabase();
  const taken = createServer().listen(0);
  await once(taken, 'listening');
  const port = String((taken.address() as AddressInfo).port);
  try {
    for (const workers of ['1', '2']) {
      const g = gateway({ PORT: port, POSTGRES_URL: db.url, GOMODEL_WORKERS: workers, LOG_LEVEL: 'error' });
      expect(await g.exit).toBe(1);
      for (const line of g.err().trim().split('\n')) expect(line).toBe(`gomodel-ts cannot start: port ${port} is already in use: stop what holds it, or set PORT to another port`);
      expect(g.err()).not.toMatch(/^\s+at /m);
    }
  } finally {
    taken.close();
    await db.drop();
  }
});

it('an unreachable POSTGRES_URL or a bad setting is one clear line that names it, without the password', async () => {
  const bad = gateway({ POSTGRES_URL: 'postgres://postgres:hunter2@127.0.0.1:1/gomodel' });
  expect(await bad.exit).toBe(1);
  expect(oneClearLine(bad.err())).toMatch(/^gomodel-ts cannot start: cannot use the PostgreSQL at 127\.0\.0\.1:1\/gomodel \(POSTGRES_URL\): .*ECONNREFUSED/);
  expect(bad.err()).not.toContain('hunter2');

  const setting = gateway({ BUDGET_UNKNOWN_PRICE: 'sometimes' });
  expect(await setting.exit).toBe(1);
  expect(oneClearLine(setting.err())).toBe('gomodel-ts cannot start: BUDGET_UNKNOWN_PRICE must be allow or deny, got "sometimes"');
});

describe('the embedded PostgreSQL', () => {
  let dir: string;
  const provider = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'x' }] }));
    res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 } }));
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gomodel-startup-'));
    await chmod(dir, 0o755); // reachable by the postgres user: these cases are about the process, not the directory
    provider.listen(0, '127.0.0.1');
    await once(provider, 'listening');
  });
  afterAll(async () => {
    provider.close();
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({ GOMODEL_DATA_DIR: join(dir, 'data'), OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`, USAGE_FLUSH_INTERVAL: '60s' });

  it('refuses a second gateway on the same data directory in one line, and starts again at once after a SIGKILL', async () => {
    const first = gateway(env());
    await first.listening();
    const second = gateway(env());
    expect(await second.exit).toBe(1);
    expect(oneClearLine(second.err())).toMatch(/^gomodel-ts cannot start: the data directory .* is in use by another running PostgreSQL \(pid \d+\), most likely another gateway started with the same GOMODEL_DATA_DIR/);

    // The database stops with its gateway, however the gateway ends, so the next start finds it free.
    process.kill(-first.proc.pid!, 'SIGKILL');
    await first.exit;
    const third = gateway(env());
    await third.listening();
    process.kill(-third.proc.pid!, 'SIGTERM');
    expect(await third.exit).toBe(0);
  });

  it("Ctrl-C (SIGINT to the whole process group) drains the usage rows into the database before it stops", async () => {
    const g = gateway(env());
    const port = await g.listening();
    const reply = await realFetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(reply.status).toBe(200);
    await reply.json();
    // The flush interval is a minute: the row is still queued when the terminal's SIGINT reaches every process of the group.
    process.kill(-g.proc.pid!, 'SIGINT');
    expect(await g.exit).toBe(0);
    const stopped = g.out().split('\n').find((l) => l.includes('"msg":"stopped"'));
    expect(stopped, g.out()).toBeDefined();
    expect(JSON.parse(stopped!)).toMatchObject({ recorded: 1, written: 1, spilled: 0 });
  });
});

describe('as the user it runs as', () => {
  /** A data directory under a parent only its owner may enter, as a checkout under /root is. */
  async function privateDataDir(owner?: { uid: number; gid: number }): Promise<{ parent: string; data: string }> {
    const parent = await mkdtemp(join(tmpdir(), 'gomodel-private-'));
    if (owner) await chown(parent, owner.uid, owner.gid);
    await chmod(parent, 0o700);
    return { parent, data: join(parent, 'data') };
  }

  /** Whether `as` may run `file` (a runtime installed under /root is out of an unprivileged user's reach). */
  const runnable = (as: { uid: number; gid: number }, file: string) => spawnSync('/bin/sh', ['-c', 'test -x "$1"', 'sh', file], as).status === 0;

  async function startsAndStops(data: string, as?: { uid: number; gid: number }) {
    // The runtime running the suite when the user can run it, else a Node on PATH the user can.
    const node = as && !runnable(as, process.execPath) ? (process.env.PATH ?? '').split(':').map((d) => join(d, 'node')).find((n) => existsSync(n) && runnable(as, n)) : undefined;
    if (as && !runnable(as, process.execPath) && !node) throw new Error(`user ${as.uid} can run neither ${process.execPath} nor a node on PATH`);
    const g = gateway({ GOMODEL_DATA_DIR: data }, [], as, node);
    const port = await g.listening();
    expect((await realFetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
    process.kill(-g.proc.pid!, 'SIGTERM');
    expect(await g.exit).toBe(0);
    expect(g.err()).toBe('');
  }

  it(isRoot ? 'as root, serves from a data directory the postgres user cannot reach' : 'serves from a data directory only this user can reach', async () => {
    const { parent, data } = await privateDataDir();
    try {
      await startsAndStops(data);
      if (isRoot) {
        // The cluster lives where the postgres user can reach it; the data directory says where.
        const moved = (await readFile(join(data, 'postgres.location'), 'utf8')).trim();
        expect(moved.startsWith('/var/lib/gomodel-ts/')).toBe(true);
        await rm(dirname(moved), { recursive: true, force: true });
      }
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it(isRoot ? 'as an unprivileged user (nobody), serves from its own private data directory' : 'runs its embedded PostgreSQL as this user', async () => {
    const nobody = isRoot ? { uid: 65534, gid: 65534 } : undefined;
    const { parent, data } = await privateDataDir(nobody);
    try {
      await startsAndStops(data, nobody);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
