import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { localUsage } from './local-provider.ts';

/** What the provider does with a request for one model. */
export type Behaviour =
  | 'ok'
  /** Never sends its response headers. */
  | 'hang'
  /** Stream: 200 and event-stream headers, then the connection drops before any byte of the body. */
  | 'drop-before-first-byte'
  /** Stream: 200 and event-stream headers, then nothing. */
  | 'silent-after-headers'
  /** Stream: the first chunk, then the connection drops. */
  | 'drop-after-first-byte'
  | { status: number; retryAfter?: string };

export interface ScriptedProvider {
  /** The OpenAI base URL (…/v1). */
  baseUrl: string;
  /** Behaviour by model; the model list names these models. Tests change it between requests. */
  models: Record<string, Behaviour>;
  /** Completions received, by model. */
  requests: Record<string, number>;
  close(): void;
}

const id = 'chatcmpl-scripted';
const chunk = (model: string, delta: object, finish: string | null) =>
  `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

function answer(res: ServerResponse, model: string, stream: boolean, behaviour: Behaviour): void {
  if (typeof behaviour === 'object') {
    res.writeHead(behaviour.status, { 'content-type': 'application/json', ...(behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {}) });
    res.end(JSON.stringify({ error: { message: `scripted status ${behaviour.status}`, type: 'server_error' } }));
    return;
  }
  if (behaviour === 'hang') return;
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id, object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: `ok from ${model}` }, finish_reason: 'stop' }], usage: localUsage }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
  if (behaviour === 'silent-after-headers') return;
  if (behaviour === 'drop-before-first-byte') {
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  res.write(chunk(model, { role: 'assistant', content: `ok from ${model}` }, null));
  if (behaviour === 'drop-after-first-byte') {
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  res.end(`${chunk(model, {}, 'stop')}data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model, choices: [], usage: localUsage })}\n\ndata: [DONE]\n\n`);
}

/** An OpenAI-compatible provider on loopback that answers each model as a test scripts it. */
export async function startScriptedProvider(models: Record<string, Behaviour>): Promise<ScriptedProvider> {
  const requests: Record<string, number> = {};
  const provider = { models, requests };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ object: 'list', data: Object.keys(provider.models).map((m) => ({ id: m, object: 'model', created: 1, owned_by: 'scripted' })) }));
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean };
      requests[body.model] = (requests[body.model] ?? 0) + 1;
      answer(res, body.model, body.stream === true, provider.models[body.model] ?? { status: 404 });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(provider, {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
}
