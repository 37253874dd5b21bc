import type { IncomingHttpHeaders } from 'node:http';
import type { NativeApi, ProviderAdapter, SseEvent, StreamStep, UpstreamRequest } from '../providers/types.ts';
import type { Obj } from './types.ts';

const paths: Record<NativeApi, string> = { responses: '/responses', messages: '/messages' };

/** Client headers that choose API versions and betas; they reach the provider as sent. */
const versionHeaders: Record<NativeApi, readonly string[]> = {
  responses: ['openai-beta'],
  messages: ['anthropic-version', 'anthropic-beta'],
};

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/**
 * A request in an API the provider serves natively, relayed: the client's bytes when nothing in
 * them needs changing, else the body with the provider's model id and without the gateway's
 * `provider` hint. `defaults` fills fields the provider requires and the client left out
 * (Anthropic's `max_tokens`).
 */
export function nativeRequest(adapter: ProviderAdapter, api: NativeApi, body: Obj, raw: Buffer, model: string, headers: IncomingHttpHeaders, defaults: Obj = {}): UpstreamRequest {
  const out: Record<string, string> = { ...adapter.authHeaders, 'content-type': 'application/json' };
  for (const name of versionHeaders[api]) {
    const v = first(headers[name]);
    if (v) out[name] = v;
  }
  let missing = false;
  for (const k in defaults) if (body[k] === undefined || body[k] === null) missing = true;
  if (body.model === model && body.provider === undefined && !missing) return { method: 'POST', path: paths[api], headers: out, body: raw };
  const copy: Obj = { ...body, model };
  delete copy.provider;
  for (const k in defaults) if (copy[k] === undefined || copy[k] === null) copy[k] = defaults[k];
  return { method: 'POST', path: paths[api], headers: out, body: JSON.stringify(copy) };
}

/**
 * The chat completion chunks of one provider event in the internal shape. Adapters that relay
 * OpenAI-compatible events unchanged (`passthrough`) leave the parsing to the caller: done here,
 * only when the client speaks another API.
 */
export function chunksOf(step: StreamStep, ev: SseEvent): Obj[] {
  if (step.chunks !== 'passthrough') return step.chunks;
  if (ev.data === '[DONE]') return [];
  try {
    const json: unknown = JSON.parse(ev.data);
    return typeof json === 'object' && json !== null && !Array.isArray(json) ? [json as Obj] : [];
  } catch {
    return [];
  }
}
