import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { startTestGateway } from '../support/gateway.ts';
import { fixture } from '../support/providers.ts';
import { realFetch } from '../support/real-fetch.ts';

// A provider on a local port rather than msw, whose interception of every upstream request would
// make the thousand requests below several times slower.
it('labels only listed or configured models: a thousand made-up model names make one `other` series', { timeout: 120_000 }, async () => {
  const provider = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(req.method === 'GET' ? fixture('openai/models.json') : fixture('openai/chat.json'));
  }).listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const gw = await startTestGateway({
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`,
    OPENAI_MODELS: 'configured-model',
    METRICS_ENABLED: 'true',
  });
  try {
    const madeUp = 1000;
    const models = ['gpt-4o-mini', 'configured-model', ...Array.from({ length: madeUp }, (_, i) => `openai/made-up-${i}`)];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < models.length) {
          const res = await realFetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ model: models[next++], messages: [{ role: 'user', content: 'x' }] }),
          });
          expect(res.status).toBe(200);
          await res.arrayBuffer();
        }
      }),
    );
    const text = await (await realFetch(`${gw.url}/metrics`)).text();
    const series = text.split('\n').filter((l) => l.startsWith('gomodel_requests_total{'));
    expect(new Set(series.map((l) => /model="([^"]*)"/.exec(l)![1]))).toEqual(new Set(['gpt-4o-mini', 'configured-model', 'other']));
    expect(text).toContain(`gomodel_requests_total{provider="openai",model="other",endpoint="/v1/chat/completions",status_code="200",stream="false"} ${madeUp}`);
    expect(text).not.toContain('made-up');
  } finally {
    await gw.stop();
    provider.close();
  }
});
