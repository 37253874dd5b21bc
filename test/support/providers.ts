import { readFileSync } from 'node:fs';
import { setupServer, type SetupServer } from 'msw/node';
import { realFetch } from './real-fetch.ts';

export { realFetch };

export { http, HttpResponse } from 'msw';

const fixtures = new URL('../fixtures/', import.meta.url);

/** A recorded-shape provider payload from test/fixtures/<provider>/. */
export const fixture = (path: string): string => readFileSync(new URL(path, fixtures), 'utf8');
export const jsonFixture = <T = Record<string, unknown>>(path: string): T => JSON.parse(fixture(path)) as T;

/**
 * The network edge: msw intercepts the gateway's calls to providers (node:http). Requests to
 * the gateway itself (127.0.0.1) go through; any other unmocked request fails the test.
 */
export function mockProviders(): SetupServer {
  const server = setupServer();
  server.listen({
    onUnhandledRequest(request, print) {
      const host = new URL(request.url).hostname;
      if (host === '127.0.0.1' || host === 'localhost') return;
      print.error();
    },
  });
  return server;
}

export interface StreamOptions {
  /** Pause between events, to prove they are relayed as they arrive. */
  delayMs?: number;
  /** Break the connection after this many events. */
  cutAfter?: number;
  /** Called when the consumer stops reading (the gateway aborted the upstream request). */
  onCancel?: () => void;
}

/** An event-stream Response replaying a fixture's events one by one. */
export function sseResponse(text: string, opts: StreamOptions = {}): Response {
  const events = text.split(/\n\n/).filter((e) => e.trim()).map((e) => `${e}\n\n`);
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (opts.cutAfter !== undefined && i >= opts.cutAfter) {
        controller.error(new Error('connection reset by peer'));
        return;
      }
      if (i >= events.length) {
        controller.close();
        return;
      }
      if (opts.delayMs && i > 0) await new Promise((r) => setTimeout(r, opts.delayMs));
      controller.enqueue(encoder.encode(events[i++]));
    },
    cancel() {
      opts.onCancel?.();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}
