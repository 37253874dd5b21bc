import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { connect } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { freePort, spawnGateway, terminate } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

it('GOMODEL_WORKERS=2 serves one port from two processes, replaces a killed one without losing its rows, and drains both on SIGTERM', async () => {
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-cluster-'));
  const provider = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'x' }] }));
    res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 } }));
  }).listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const port = await freePort();
  const proc = spawnGateway(
    { GOMODEL_WORKERS: '2', PORT: String(port), POSTGRES_URL: db.url, OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`, GOMODEL_DATA_DIR: dir, LOG_LEVEL: 'info' },
    'pipe',
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    // both workers must be listening before traffic is spread over them
    await expect.poll(() => (out.match(/gomodel-ts listening/g) ?? []).length, { timeout: 45_000, interval: 200 }).toBe(2);
    const ids = Array.from({ length: 40 }, (_, i) => `cluster-${i}`);
    const statuses = await Promise.all(
      ids.map((id) =>
        realFetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Request-ID': id, Connection: 'close' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        }).then((r) => r.status),
      ),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    const pids = new Set(out.split('\n').filter((l) => l.includes('"proxied"')).map((l) => (JSON.parse(l) as { pid: number }).pid));
    expect(pids.size).toBe(2);
    // A worker killed outright: its rows wait in its journal, which the worker started in its place reads back.
    process.kill([...pids][0]!, 'SIGKILL');
    await expect.poll(() => (out.match(/gomodel-ts listening/g) ?? []).length, { timeout: 45_000, interval: 200 }).toBe(3);
    expect(await terminate(proc)).toBe(0);
    const sql = connect(db.url, 1);
    const [row] = await sql`select count(*) as n from usage where request_id like 'cluster-%'`;
    await sql.end();
    expect(Number(row!.n)).toBe(40);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    provider.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}, 90_000);
