import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';

// Keys shaped as each provider issues them, except OpenAI's: a key of no known shape is found
// only because it is configured.
const alnum = (n: number) => randomBytes(n).toString('base64').replace(/[^A-Za-z0-9]/g, '').padEnd(n, 'q').slice(0, n);
const keys = {
  openai: `q9${alnum(38)}`,
  anthropic: `sk-ant-api03-${alnum(93)}AA`,
  gemini: `AIzaSy${alnum(33)}`,
  master: `gm-${alnum(30)}`,
};
/** A key the gateway was never given, in a provider's message: caught by its shape. */
const stranger = `sk-proj-${alnum(48)}`;

const models = { object: 'list', data: ['echo'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'x' })) };

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/**
 * Providers that quote the credentials they were sent back in their error replies: in the
 * message, `param` and `code` of a 400, in 5xx bodies (JSON and not), in a reply that is not
 * JSON, and in an error event inside a stream.
 */
function echoingProvider(req: IncomingMessage, res: ServerResponse, body: string) {
  const url = new URL(req.url!, 'http://x');
  if (req.method === 'GET') return send(res, 200, url.pathname.startsWith('/gemini') ? { models: [{ name: 'models/gemini-echo' }] } : models);
  if (url.pathname.startsWith('/anthropic/')) {
    const key = req.headers['x-api-key'] as string;
    const { max_tokens } = JSON.parse(body) as { max_tokens: number };
    if (max_tokens === 1) return send(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `x-api-key header ${key} is not allowed here` } });
    return send(res, 500, { type: 'error', error: { type: 'api_error', message: `internal error while checking ${key}` } });
  }
  if (url.pathname.startsWith('/gemini/')) {
    const key = req.headers['x-goog-api-key'] as string;
    const where = `https://generativelanguage.googleapis.com/v1beta/models/gemini-echo:generateContent?key=${key}&alt=json`;
    if (url.pathname.includes('bad')) return send(res, 400, { error: { code: 400, message: `Invalid JSON payload received for ${where}`, status: 'INVALID_ARGUMENT' } });
    return send(res, 500, { error: { code: 500, message: `Internal error encountered at ${where}`, status: 'INTERNAL' } });
  }
  const auth = req.headers.authorization!;
  const { model } = JSON.parse(body) as { model: string };
  switch (model) {
    case 'echo-400':
      return send(res, 400, { error: { message: `Invalid header value ${auth} (also tried ${stranger})`, type: 'invalid_request_error', param: auth, code: `bad_key_${auth.slice(7)}` } });
    case 'echo-500':
      return send(res, 500, `<html><body>upstream crashed while handling Authorization: ${auth}</body></html>`, 'text/html');
    case 'echo-500-json':
      return send(res, 500, { error: { message: `The server had an error processing your request with ${auth}`, type: 'server_error', param: auth, code: null } });
    case 'echo-not-json':
      return send(res, 200, `${auth.slice(7)} is not a valid reply`);
    default: {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: {"id":"c1","object":"chat.completion.chunk","model":"echo","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n`);
      return res.end(`data: {"error":{"message":"stream failed for ${auth}","type":"server_error","param":"${auth}","code":"${auth.slice(7)}"}}\n\n`);
    }
  }
}

let provider: Server;
let gw: GatewayProcess;

beforeAll(async () => {
  provider = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => echoingProvider(req, res, body));
  }).listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  gw = await startGatewayProcess({
    GOMODEL_MASTER_KEY: keys.master,
    OPENAI_API_KEY: keys.openai,
    OPENAI_BASE_URL: `${base}/openai/v1`,
    ANTHROPIC_API_KEY: keys.anthropic,
    ANTHROPIC_BASE_URL: `${base}/anthropic/v1`,
    GEMINI_API_KEY: keys.gemini,
    GEMINI_BASE_URL: `${base}/gemini/v1beta`,
    RETRY_MAX_RETRIES: '0',
  });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  provider.close();
});

async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${keys.master}`, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
  return { status: res.status, text: await res.text() };
}

/** Neither a key nor any ten characters of one (error messages quote the first bytes of a body). */
function expectNoSecret(text: string) {
  for (const key of [...Object.values(keys), stranger]) {
    for (let i = 0; i + 10 <= key.length; i++) expect(text).not.toContain(key.slice(i, i + 10));
  }
}

describe('no secret leaves the gateway', () => {
  const replies: Record<string, { status: number; text: string }> = {};

  beforeAll(async () => {
    replies.openai400 = await chat({ model: 'openai/echo-400' });
    replies.openai500 = await chat({ model: 'openai/echo-500' });
    replies.openai500json = await chat({ model: 'openai/echo-500-json' });
    replies.notJson = await chat({ model: 'openai/echo-not-json' });
    replies.stream = await chat({ model: 'openai/echo-stream', stream: true });
    replies.anthropic400 = await chat({ model: 'anthropic/claude-echo', max_tokens: 1 });
    replies.anthropic500 = await chat({ model: 'anthropic/claude-echo', max_tokens: 2 });
    replies.gemini400 = await chat({ model: 'gemini/bad' });
    replies.gemini500 = await chat({ model: 'gemini/gemini-echo' });
    // A client's request id is logged as given: the log scrubs it like any other field.
    replies.requestId = await chat({ model: 'openai/echo-500' }, { 'X-Request-ID': keys.openai });
  }, 30_000);

  it('scrubs the keys a provider echoes from the message, param and code of the error the client gets', () => {
    expect(replies.openai400!.status).toBe(400);
    const { error } = JSON.parse(replies.openai400!.text) as { error: { message: string; param: string; code: string } };
    expect(error).toEqual({ type: 'invalid_request_error', message: 'openai: Invalid header value [redacted] (also tried [redacted])', param: '[redacted]', code: 'bad_key_[redacted]' });
    expect(replies.anthropic400!.status).toBe(400);
    expect(replies.anthropic400!.text).toContain('x-api-key header [redacted] is not allowed here');
    expect(replies.gemini400!.status).toBe(400);
    expect(replies.gemini400!.text).toContain(':generateContent?key=[redacted]&alt=json');
    for (const r of Object.values(replies)) expectNoSecret(r.text);
  });

  it('scrubs 5xx bodies, unreadable replies and error events inside a stream', () => {
    for (const r of [replies.openai500, replies.openai500json, replies.notJson, replies.anthropic500, replies.gemini500]) expect(r!.status).toBe(502);
    expect(JSON.parse(replies.openai500json!.text)).toMatchObject({ error: { message: 'openai: The server had an error processing your request with [redacted]', param: '[redacted]' } });
    expect(replies.stream!.status).toBe(200);
    expect(replies.stream!.text).toContain('stream failed for [redacted]');
    for (const r of Object.values(replies)) expectNoSecret(r.text);
  });

  it('writes no configured secret to the log, whichever line or field would carry it', async () => {
    await gw.stop();
    const lines = gw.log();
    // The provider's 5xx bodies are logged at error level, scrubbed, so an operator can see them.
    const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { body?: string; message?: string } }).filter((l) => l.level >= 50);
    expect(errors.some((l) => l.err?.body?.includes('upstream crashed while handling Authorization: [redacted]'))).toBe(true);
    expect(errors.some((l) => l.err?.body?.includes('internal error while checking [redacted]'))).toBe(true);
    expect(errors.some((l) => l.err?.body?.includes('?key=[redacted]&alt=json'))).toBe(true);
    expect(lines.some((l) => l.includes('"requestId":"[redacted]"'))).toBe(true);
    expectNoSecret(lines.join("\n"));
  });
});
