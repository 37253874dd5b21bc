import type { IncomingHttpHeaders } from 'node:http';
import { invalidRequest } from '../errors.ts';
import type { ProviderAdapter, SseEvent, TokenUsage, UpstreamRequest } from '../providers/types.ts';
import type { Obj } from './types.ts';
import { usageOfKnownShape } from './usage.ts';

/**
 * Request headers that never reach the provider: the client's credentials (the gateway's go
 * instead), hop-by-hop headers, the gateway's own headers, and Accept-Encoding (the reply is read
 * for usage, so it must come uncompressed).
 */
const droppedRequestHeaders = new Set([
  'authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'cookie', 'host', 'content-length', 'connection', 'keep-alive',
  'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection', 'accept-encoding', 'x-request-id',
]);

/** Reply headers not passed back: hop-by-hop ones (Node frames the reply itself) and cookies. */
export const droppedReplyHeaders = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'set-cookie', 'content-length']);

export type PassthroughMethod = UpstreamRequest['method'];
export const passthroughMethods: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The provider request for `/p/{provider}/{endpoint}`: the endpoint under the provider's base URL
 * (a leading `v1/` is dropped when the base URL already ends in `/v1`, as the original allows), the
 * query as sent, the client's headers less the dropped ones, and the gateway's credentials.
 */
export function passthroughRequest(
  adapter: ProviderAdapter,
  method: PassthroughMethod,
  endpoint: string,
  query: string,
  headers: IncomingHttpHeaders,
  body: Buffer | undefined,
  ownHeaders: ReadonlySet<string>,
): UpstreamRequest {
  const segments = endpoint.split('/');
  if (!endpoint || segments.some((s) => s === '..' || s === '.' || /%2e%2e|%2f|%5c|\\/i.test(s))) {
    throw invalidRequest('the passthrough endpoint must be a plain path under the provider base URL', 'endpoint');
  }
  const path = /\/v1\/?$/.test(adapter.config.baseUrl) && segments[0] === 'v1' ? segments.slice(1).join('/') : endpoint;
  const out: Record<string, string> = {};
  for (const name in headers) {
    if (droppedRequestHeaders.has(name) || ownHeaders.has(name) || name.startsWith('x-gomodel-')) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  Object.assign(out, adapter.authHeaders);
  return { method, path: `/${path}${query}`, headers: out, body: body && body.length ? body : undefined };
}

/**
 * Watches a passthrough reply for usage in any shape the gateway knows: every event of a stream
 * that mentions usage, or the whole of a JSON reply. Replies of other shapes leave it null.
 */
export class PassthroughUsage {
  usage: TokenUsage | null = null;
  id = '';
  model = '';
  /** Anthropic reports a stream's usage over two events; the first is kept here. */
  private readonly anthropic: Obj = {};

  constructor(private readonly adapter: ProviderAdapter) {}

  private read(json: unknown): void {
    if (typeof json !== 'object' || json === null) return;
    const o = json as Obj;
    const inner = (typeof o.response === 'object' && o.response) || (typeof o.message === 'object' && o.message) || o;
    const { id, model, modelVersion, responseId } = inner as Obj;
    if (!this.id && typeof (id ?? responseId) === 'string') this.id = String(id ?? responseId);
    if (typeof (model ?? modelVersion) === 'string' && (model ?? modelVersion)) this.model = String(model ?? modelVersion);
    const usage = usageOfKnownShape(o, this.adapter.config.type, this.anthropic);
    if (usage) this.usage = usage;
  }

  event(ev: SseEvent): void {
    if (!this.id || ev.data.includes('usage')) {
      try {
        this.read(JSON.parse(ev.data));
      } catch {
        // Not JSON ([DONE], comments): nothing to read.
      }
    }
  }

  body(raw: Buffer): void {
    try {
      this.read(JSON.parse(raw.toString('utf8')));
    } catch {
      // Not JSON: no usage to read.
    }
  }
}
