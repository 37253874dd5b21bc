import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { connect } from '../../src/db/sql.ts';
import { contractClient } from '../support/contract.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { freePort, spawnGateway, terminate } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

// The gateway as its own process, run by the runtime running this suite the way its users run it
// (under Deno with the permissions of `deno task start`). A provider on loopback, since msw cannot
// reach another process.

function provider(req: IncomingMessage, res: ServerResponse): void {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c));
  req.on('end', () => {
    const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: ['gpt-4o-mini', 'text-embedding-3-small'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'x' })) }));
    res.setHeader('content-type', 'application/json');
    if (req.url === '/v1/embeddings') {
      return res.end(JSON.stringify({ object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding: [0.5, -0.5] }], usage: { prompt_tokens: 3, total_tokens: 3 } }));
    }
    const base = { id: 'c', created: 1, model: 'gpt-4o-mini' };
    if (!(JSON.parse(raw) as { stream?: boolean }).stream) {
      return res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage }));
    }
    res.setHeader('content-type', 'text/event-stream');
    const chunk = (delta: object, extra: object = {}) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
    res.write(chunk({ role: 'assistant', content: 'hel' }));
    res.write(chunk({ content: 'lo' }));
    res.end(`${chunk({}, { choices: [], usage })}data: [DONE]\n\n`);
  });
}

it('serves chat, a stream, embeddings, the usage log and the dashboard, then drains on SIGTERM', async () => {
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-process-'));
  const upstream = createServer(provider).listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawnGateway({
    PORT: String(port),
    POSTGRES_URL: db.url,
    OPENAI_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
    GOMODEL_MASTER_KEY: 'k',
    GOMODEL_DATA_DIR: dir,
    USAGE_FLUSH_INTERVAL: '100ms',
    LOG_LEVEL: 'warn',
  });
  try {
    await expect.poll(() => realFetch(`${url}/health/ready`).then((r) => r.status).catch(() => 0), { timeout: 45_000, interval: 200 }).toBe(200);
    const client = contractClient(url, 'k');
    const messages = [{ role: 'user' as const, content: 'hi' }];

    const chat = await api.createChatCompletion({ client, body: { model: 'gpt-4o-mini', messages }, headers: { 'X-Request-ID': 'process-chat' } });
    expect(chat.data?.choices[0]?.message?.content).toBe('ok');

    const stream = await realFetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: 'Bearer k', 'Content-Type': 'application/json', 'X-Request-ID': 'process-stream' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }),
    });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await stream.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
    expect(events.at(-1)).toBe('[DONE]');
    const text = events.slice(0, -1).map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('hello');

    const embedding = await api.createEmbedding({ client, body: { model: 'text-embedding-3-small', input: 'hi' }, headers: { 'X-Request-ID': 'process-embedding' } });
    expect(embedding.data?.data[0]?.embedding).toEqual([0.5, -0.5]);

    const dashboard = await realFetch(`${url}/admin/dashboard`);
    expect([dashboard.status, dashboard.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^text\/html/)]);
    await dashboard.arrayBuffer();

    const logged = async () => ((await api.getUsageLog({ client, query: { search: 'process-' } })).data?.entries ?? []).map((e) => e.request_id).sort();
    await expect.poll(logged, { timeout: 5000, interval: 100 }).toEqual(['process-chat', 'process-embedding', 'process-stream']);

    expect(await terminate(proc)).toBe(0);
    const sql = connect(db.url, 1);
    const rows = await sql<{ request_id: string; total_tokens: number }[]>`select request_id, total_tokens::int from usage order by request_id`;
    await sql.end();
    expect(rows).toEqual([
      { request_id: 'process-chat', total_tokens: 7 },
      { request_id: 'process-embedding', total_tokens: 3 },
      { request_id: 'process-stream', total_tokens: 7 },
    ]);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    upstream.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}, 90_000);
