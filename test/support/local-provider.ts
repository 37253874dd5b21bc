import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Usage of every reply of the local provider. */
export const localUsage = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

export interface LocalProvider {
  /** The OpenAI base URL (…/v1). */
  baseUrl: string;
  /** Added to every reply's delay; a test may change it between requests. */
  extraDelayMs: number;
  /** Completions being answered now, and the most at once since `maxInFlight` was last reset. */
  inFlight: number;
  maxInFlight: number;
  close(): void;
}

function reply(res: ServerResponse, model: string, stream: boolean): void {
  const id = 'chatcmpl-local';
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id, object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: localUsage }));
    return;
  }
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: 'o' }, null));
  if (model === 'hang') return; // the stream stops here and never ends
  res.write(chunk({ content: 'k' }, 'stop'));
  res.end(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model, choices: [], usage: localUsage })}\n\ndata: [DONE]\n\n`);
}

/**
 * An OpenAI-compatible provider on loopback for gateways running as processes of their own (msw
 * intercepts only this process). Replies after 0-`maxDelayMs` ms; the model `hang` never finishes
 * (a stream stops after its first chunk, a JSON reply never starts).
 */
export async function startLocalProvider(maxDelayMs = 0): Promise<LocalProvider> {
  const provider = { extraDelayMs: 0, inFlight: 0, maxInFlight: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ object: 'list', data: ['gpt-4o-mini', 'hang'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'local' })) }));
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean };
      if (body.model === 'hang' && !body.stream) return;
      provider.inFlight++;
      provider.maxInFlight = Math.max(provider.maxInFlight, provider.inFlight);
      res.once('close', () => provider.inFlight--);
      setTimeout(() => reply(res, body.model, body.stream === true), provider.extraDelayMs + Math.random() * maxDelayMs);
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
