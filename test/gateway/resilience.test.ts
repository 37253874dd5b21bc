import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

// Real sockets on loopback, to produce what mocks cannot: a provider that never answers, and one
// that drops the connection.
let gw: TestGateway;
let sdk: OpenAI;
let provider: Server;
let drops = 0;
let requests = 0;

beforeAll(async () => {
  provider = createServer((req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: ['silent', 'flaky'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'x' })) }));
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      requests++;
      const { model } = JSON.parse(raw) as { model: string };
      if (model === 'silent') return; // never answers
      if (drops > 0) {
        drops--;
        return req.socket.destroy();
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
    });
  }).listen(0, '127.0.0.1');
  await once(provider, 'listening');
  gw = await startTestGateway({
    OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`,
    HTTP_TIMEOUT: '300ms',
    RETRY_INITIAL_BACKOFF: '10ms',
  });
  sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});
afterAll(async () => {
  await gw.stop();
  provider.closeAllConnections();
  provider.close();
});

it('answers 504 when the provider does not answer within HTTP_TIMEOUT', async () => {
  const started = performance.now();
  const err = (await sdk.chat.completions.create({ model: 'silent', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  expect(err.status).toBe(504);
  expect(err.code).toBe('upstream_timeout');
  expect(performance.now() - started).toBeLessThan(2000);
});

it('retries a dropped connection and succeeds', async () => {
  drops = 2;
  const before = requests;
  const reply = await sdk.chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'x' }] });
  expect(reply.choices[0]?.message.content).toBe('ok');
  expect(requests - before).toBe(3);
});

it('never retries a stream', async () => {
  drops = 1;
  const before = requests;
  const err = await sdk.chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'x' }], stream: true }).catch((e: unknown) => e);
  expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  expect(requests - before).toBe(1);
});
