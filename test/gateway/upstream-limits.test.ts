import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/sql.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

// The gateway runs with the default UPSTREAM_REPLY_SIZE_LIMIT (10 MiB) in its own process, so its
// memory is its own to measure.
const MiB = 1024 * 1024;
const LIMIT = 10 * MiB;
const HUGE_REPLY = 50 * MiB;
const HUGE_EVENT = 40 * MiB;
const piece = Buffer.alloc(64 * 1024, 'x');

interface Sent {
  /** Bytes of the oversized part the provider managed to write. */
  written: number;
  /** The gateway closed the connection before the provider finished writing. */
  cut: boolean;
}

/** Writes `total` bytes of `x` as fast as the connection takes them; stops when it closes. */
async function pour(res: ServerResponse, total: number, sent: Sent, hold?: Promise<void>): Promise<void> {
  let closed = false;
  res.on('close', () => (closed = true));
  while (sent.written < total && !closed) {
    if (hold && sent.written >= 512 * 1024) {
      await hold;
      hold = undefined;
    }
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    sent.written += piece.length;
  }
  sent.cut = closed;
  if (!closed) res.end('"}');
}

const sent: { reply: Sent[]; declared: Sent[]; event: Sent[] } = { reply: [], declared: [], event: [] };
let releaseEvent!: () => void;
const eventHeld = new Promise<void>((resolve) => (releaseEvent = resolve));
let eventStarted!: () => void;
const eventUnderWay = new Promise<void>((resolve) => (eventStarted = resolve));

function provider(req: IncomingMessage, res: ServerResponse, body: string) {
  if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: ['big', 'fits', 'huge-reply', 'huge-declared'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'x' })) }));
  const { model } = JSON.parse(body) as { model: string };
  const head = '{"id":"chatcmpl-big","object":"chat.completion","created":1,"model":"big","choices":[{"index":0,"message":{"role":"assistant","content":"';
  const s: Sent = { written: 0, cut: false };
  if (model === 'fits') {
    const content = 'y'.repeat(LIMIT / 2);
    return res.end(`${head}${content}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`);
  }
  if (model === 'huge-reply') {
    sent.reply.push(s);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(head);
    return void pour(res, HUGE_REPLY, s);
  }
  if (model === 'huge-declared') {
    sent.declared.push(s);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(HUGE_REPLY + head.length + 2) });
    res.write(head);
    return void pour(res, HUGE_REPLY, s);
  }
  sent.event.push(s);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: {"id":"chatcmpl-ev","object":"chat.completion.chunk","created":1,"model":"big","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n');
  res.write('data: {"id":"chatcmpl-ev","object":"chat.completion.chunk","created":1,"model":"big","choices":[{"index":0,"delta":{"content":"');
  eventStarted();
  // One event that never ends: no blank line in 40 MB.
  return void pour(res, HUGE_EVENT, s, eventHeld);
}

let upstream: Server;
let gw: GatewayProcess;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => provider(req, res, body));
  }).listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  gw = await startGatewayProcess({ OPENAI_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, RETRY_MAX_RETRIES: '0' });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  upstream.closeAllConnections();
  upstream.close();
});

const chat = (model: string, extra: Record<string, unknown> = {}, requestId?: string) =>
  realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(requestId ? { 'X-Request-ID': requestId } : {}) },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });

describe('a stream event that never ends', () => {
  it('is cut at the limit: the stream ends with an error event, /health answers meanwhile, the request is recorded', async () => {
    const res = await chat('big', { stream: true }, 'huge-event-1');
    expect(res.status).toBe(200);
    let text = '';
    let ended = false;
    const read = (async () => {
      for await (const chunk of res.body!) text += Buffer.from(chunk).toString();
      ended = true;
    })();
    await eventUnderWay;
    const health = await realFetch(`${gw.url}/health`);
    expect(health.status).toBe(200);
    expect(ended).toBe(false);
    releaseEvent();
    await read;

    const events = text.split('\n\n').filter(Boolean);
    expect(events[0]).toContain('"role":"assistant"');
    const last = JSON.parse(events.at(-1)!.replace(/^data: /, '')) as { error: { code: string; type: string; message: string } };
    expect(last.error).toMatchObject({ type: 'provider_error', code: 'upstream_reply_too_large' });
    expect(text).not.toContain('[DONE]');
    // The event's bytes never reached the client, and the provider was hung up on before it finished.
    expect(text.length).toBeLessThan(4096);
    await expect.poll(() => sent.event[0]?.cut).toBe(true);
    expect(sent.event[0]!.written).toBeLessThan(HUGE_EVENT);

    const sql = connect(gw.databaseUrl, 1);
    try {
      await expect
        .poll(async () => (await sql`select provider_id, total_cost, costs_calculation_caveat from usage where request_id = 'huge-event-1'`)[0], { timeout: 10_000 })
        .toMatchObject({ provider_id: 'chatcmpl-ev', total_cost: null, costs_calculation_caveat: 'stream failed before the provider reported usage' });
    } finally {
      await sql.end();
    }
  });
});

describe('non-streaming replies', () => {
  it('relays a reply under the limit whole, and refuses one whose Content-Length passes it with 502, without reading it', async () => {
    const fits = await chat('fits');
    expect(fits.status).toBe(200);
    const body = (await fits.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]!.message.content).toHaveLength(LIMIT / 2);

    const res = await chat('huge-declared');
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_reply_too_large');
    await expect.poll(() => sent.declared[0]?.cut).toBe(true);
    expect(sent.declared[0]!.written).toBeLessThan(HUGE_REPLY);
  });

  it('refuses twelve concurrent 50 MB replies with 502, hanging up on each, with memory bounded by the limit', async () => {
    const before = await gw.peakRss();
    const replies = await Promise.all(Array.from({ length: 12 }, () => chat('huge-reply')));
    for (const res of replies) {
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'upstream_reply_too_large' });
    }
    await expect.poll(() => sent.reply.filter((s) => s.cut).length).toBe(12);
    for (const s of sent.reply) expect(s.written).toBeLessThan(HUGE_REPLY);
    // Buffering them whole would take 12 x 50 MB; refused at the limit, at most 12 x 10 MiB are
    // held at once, and the bound leaves room for the collector to lag.
    expect((await gw.peakRss()) - before).toBeLessThan(12 * LIMIT * 2);
  });
});
