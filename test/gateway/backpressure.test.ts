import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

// A provider that streams far more than socket buffers hold, as fast as its socket takes it. A
// client that stops reading must stop the provider too, through the gateway, rather than have
// the gateway buffer the rest of the stream in memory.
const TOTAL = 64 * 1024 * 1024;
const event = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'firehose', choices: [{ index: 0, delta: { content: 'x'.repeat(4000) }, finish_reason: null }] })}\n\n`;
const last =
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'firehose', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 7, total_tokens: 10 } })}\n\n` +
  'data: [DONE]\n\n';

let gw: TestGateway;
let provider: Server;
let sent = 0;

beforeAll(async () => {
  provider = createServer((req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'firehose', object: 'model', created: 1, owned_by: 'x' }] }));
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pump = () => {
        while (sent < TOTAL) {
          sent += event.length;
          if (!res.write(event)) return res.once('drain', pump);
        }
        res.end(last);
      };
      pump();
    });
  }).listen(0, '127.0.0.1');
  await once(provider, 'listening');
  gw = await startTestGateway({ OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`, HTTP_TIMEOUT: '60s' });
});
afterAll(async () => {
  await gw.stop();
  provider.closeAllConnections();
  provider.close();
});

it('holds a fast provider back while the client reads slowly, then delivers the whole stream', async () => {
  const body = JSON.stringify({ model: 'firehose', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'go' }] });
  const target = new URL(gw.url);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ hostname: target.hostname, port: target.port, path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-firehose' } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
  expect(res.statusCode).toBe(200);
  res.pause();

  // Wait for the provider to stall: its writes stop when every buffer between it and the client is full.
  let seen = -1;
  await expect.poll(() => (seen === sent ? true : ((seen = sent), false)), { interval: 300, timeout: 10_000 }).toBe(true);
  expect(sent).toBeGreaterThan(0);
  expect(sent).toBeLessThan(TOTAL / 2);

  let received = 0;
  let tail = '';
  res.on('data', (chunk: Buffer) => {
    received += chunk.length;
    tail = (tail + chunk.toString('latin1')).slice(-64);
  });
  res.resume();
  await once(res, 'end');
  expect(received).toBeGreaterThan(TOTAL);
  expect(tail.endsWith('data: [DONE]\n\n')).toBe(true);

  await expect
    .poll(async () => (await gw.sql`select input_tokens::int, output_tokens::int from usage where request_id = 'req-firehose'`)[0], { timeout: 5000 })
    .toEqual({ input_tokens: 3, output_tokens: 7 });
});
