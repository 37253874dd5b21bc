import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { assertDocumentedResponse } from '../support/contract.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

const KEY = 'sk-admission';
let keyed: TestGateway;
let open: TestGateway;

beforeAll(async () => {
  [keyed, open] = await Promise.all([startTestGateway({ GOMODEL_MASTER_KEY: KEY }), startTestGateway({ SET_BUDGET_: 'daily=10' })]);
});
afterAll(() => Promise.all([keyed.stop(), open.stop()]));

/**
 * Sends the head of a request announcing a body of `length` bytes and the first 64 kB of it, and
 * returns what the server answers within `ms` (null when it answers nothing, waiting for the rest).
 */
function answerToPartialBody(url: string, method: string, path: string, length: number, ms = 3000): Promise<string | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received || null);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n') && /\}$/.test(received)) done();
    });
    // A reset after the answer (the server closes with the body unread) ends it too.
    socket.on('error', done);
    socket.on('close', done);
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
    socket.write('{"x":"'.padEnd(64 * 1024, 'x'));
  });
}

describe('authentication before the body', () => {
  it.each([
    ['PUT', '/admin/budgets'],
    ['POST', '/admin/budgets/reset'],
    ['PUT', '/admin/budgets/'],
    ['POST', '/admin/nothing'],
    ['POST', '/v1/chat/completions'],
    ['POST', '/v1/chat/completions/'],
    ['POST', '/v2/anything'],
  ])('%s %s without the key is refused with 401 while the client is still sending its body', async (method, path) => {
    const answer = await answerToPartialBody(keyed.url, method, path, 9_900_000);
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(answer).toMatch(/missing authorization header/);
    // The gateway is fine and keeps answering.
    expect((await realFetch(`${keyed.url}/health`)).status).toBe(200);
  });

  it('needs the key on unknown paths too (401), and with it reads the body and routes as before', async () => {
    expect((await realFetch(`${keyed.url}/admin/nothing`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await realFetch(`${keyed.url}/admin/nothing`, { headers: { Authorization: `Bearer ${KEY}` } })).status).toBe(404);
    const res = await realFetch(`${keyed.url}/admin/budgets/reset/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ confirmation: 'reset' }),
    });
    expect(res.status).toBe(200);
  });
});

describe('cross-site writes (no master key: the admin API is open)', () => {
  const reset = (headers: Record<string, string>, body: string | undefined = JSON.stringify({ confirmation: 'reset' })) =>
    realFetch(`${open.url}/admin/budgets/reset`, { method: 'POST', headers, body });
  const lastReset = async () => (await api.listBudgets({ client: open.client })).data!.budgets![0]!.last_reset_at;

  it.each([
    ['another origin', { Origin: 'https://evil.example', 'Content-Type': 'application/json' }, 'Origin'],
    ['an opaque origin', { Origin: 'null', 'Content-Type': 'application/json' }, 'Origin'],
    ['another origin on the same site', { Origin: 'http://admin.127.0.0.1.nip.io', 'Sec-Fetch-Site': 'same-site', 'Content-Type': 'application/json' }, 'Sec-Fetch-Site'],
    ['another site, by Sec-Fetch-Site alone', { 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'application/json' }, 'Sec-Fetch-Site'],
  ])('refuses a change sent from %s with 403 cross_site_request, changing nothing', async (_what, headers, param) => {
    const res = await reset(headers);
    expect(res.status).toBe(403);
    const body = await res.json();
    expect(body).toMatchObject({ type: 'invalid_request_error', code: 'cross_site_request', param, status_code: 403 });
    assertDocumentedResponse('POST', '/admin/budgets/reset', 403, body);
    expect(await lastReset()).toBeUndefined();
  });

  it.each([
    ['text/plain (what a page may post anywhere)', { 'Content-Type': 'text/plain' }, '"text/plain"'],
    ['a form', { 'Content-Type': 'application/x-www-form-urlencoded' }, '"application/x-www-form-urlencoded"'],
    ['no Content-Type at all', {}, 'no Content-Type'],
  ])('refuses a JSON body sent as %s with 415', async (_what, headers, named) => {
    const res = await realFetch(`${open.url}/admin/budgets/reset`, { method: 'POST', headers, body: new Blob([JSON.stringify({ confirmation: 'reset' })]) });
    expect(res.status).toBe(415);
    const body = (await res.json()) as { message: string };
    expect(body).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_media_type', param: 'Content-Type', status_code: 415 });
    expect(body.message).toContain(named);
    assertDocumentedResponse('POST', '/admin/budgets/reset', 415, body);
    expect(await lastReset()).toBeUndefined();
  });

  it('refuses a /v1 body that is not JSON with 415 in the OpenAI envelope', async () => {
    const res = await realFetch(`${open.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"model":"m","messages":[]}' });
    expect(res.status).toBe(415);
    const body = await res.json();
    expect(body).toMatchObject({ error: { type: 'invalid_request_error', code: 'unsupported_media_type', param: 'Content-Type' } });
    assertDocumentedResponse('POST', '/v1/chat/completions', 415, body);
  });

  it('takes changes from the gateway’s own pages, from behind a proxy and from clients that send no Origin, and reads from anywhere', async () => {
    const host = new URL(open.url).host;
    expect((await reset({ Origin: 'https://evil.example', 'Content-Type': 'application/json' })).status).toBe(403);
    expect((await reset({ Origin: open.url, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json' })).status).toBe(200);
    // Firefox sends Origin: null for a same-origin POST from a page with Referrer-Policy: no-referrer (the dashboard's).
    expect((await reset({ Origin: 'null', 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json' })).status).toBe(200);
    expect((await reset({ Origin: `https://${host}`, 'Content-Type': 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await reset({ Origin: 'https://gateway.example', 'X-Forwarded-Host': 'gateway.example', 'Content-Type': 'application/json' })).status).toBe(200);
    expect((await reset({ 'Content-Type': 'application/json' })).status).toBe(200);
    expect(await lastReset()).toBeDefined();
    // Reads are left alone: without CORS headers in the answer, a page of another origin cannot read it.
    const read = await realFetch(`${open.url}/admin/budgets`, { headers: { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' } });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('requests the HTTP parser refuses', () => {
  it.each([
    ['/admin/usage/log', 'admin'],
    ['/v1/models', 'openai'],
  ])('headers over 16 KB on %s are a 431 in that route’s documented envelope', async (path, dialect) => {
    const res = await realFetch(`${keyed.url}${path}?search=${'x'.repeat(20_000)}`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    const error = (dialect === 'admin' ? body : body.error) as { code: string };
    expect(error.code).toBe('headers_too_large');
    assertDocumentedResponse('GET', path, 431, body);
    expect((await realFetch(`${keyed.url}/health`)).status).toBe(200);
  });
});
