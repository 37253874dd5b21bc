import { GatewayError, type ErrorType } from '../errors.ts';
import type { Redactor } from '../redact.ts';

/** Provider-supplied text as it may reach a client or a log: secrets removed, length bounded. */
function clip(text: string, redactor: Redactor, max: number): string {
  // Scrubbed before it is cut: a cut could leave part of a key the scrubber no longer recognises.
  const out = redactor.scrub(text);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

interface ErrorFields {
  message?: string;
  type?: string;
  code?: string;
  param?: string;
}

/** Reads message/type/code/param from the error bodies of OpenAI, Anthropic, Gemini and OpenRouter. */
function fieldsOf(body: string): ErrorFields | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  if (!json || typeof json !== 'object') return null;
  const err = (json as { error?: unknown }).error;
  const e = (err && typeof err === 'object' ? err : json) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined);
  // OpenRouter nests the upstream provider's message in metadata.raw.
  const raw = (e.metadata as { raw?: unknown } | undefined)?.raw;
  const rawMessage = typeof raw === 'string' ? (fieldsOf(raw)?.message ?? undefined) : undefined;
  const message = rawMessage ?? str(e.message) ?? (typeof err === 'string' ? err : undefined);
  if (!message) return null;
  // Gemini's `code` is the HTTP status again; its `status` (RESOURCE_EXHAUSTED…) says more.
  const code = typeof e.code === 'number' ? (str(e.status) ?? str(e.code)) : str(e.code);
  return { message, type: str(e.type) ?? str(e.status), code, param: str(e.param) };
}

function typeFor(status: number): ErrorType {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'provider_error';
  return 'invalid_request_error';
}

/**
 * Maps a provider's error reply to a GatewayError. 4xx statuses are kept; 5xx become 502, except
 * 503 (and Anthropic's 529) and 504, which mean "try later" and "timed out" to clients. The
 * message, code and param come from the provider's structured error when there is one, scrubbed
 * of every configured secret and anything shaped like a key; `cause` keeps the body, scrubbed and
 * cut to 2 KB, for the error log. Credential failures never echo the provider's text, which
 * often quotes part of the key.
 */
export function upstreamError(provider: string, redactor: Redactor, upstreamStatus: number, body: string): GatewayError {
  // 529 is Anthropic's "overloaded": to clients it means the same as 503.
  const status = upstreamStatus === 529 ? 503 : upstreamStatus;
  const clientStatus = status >= 500 && status !== 503 && status !== 504 ? 502 : status >= 400 ? status : 502;
  const fields = fieldsOf(body);
  let message: string;
  if (status === 401 || status === 403) message = `provider ${provider} rejected the gateway's credentials (status ${status})`;
  else if (fields?.message) message = `${provider}: ${clip(fields.message, redactor, 500)}`;
  else message = `provider ${provider} returned status ${status} with an unreadable error body`;
  return new GatewayError(typeFor(clientStatus), clientStatus, message, {
    provider,
    code: fields?.code && status < 500 ? clip(fields.code, redactor, 100) : status >= 500 ? 'upstream_error' : null,
    param: fields?.param ? clip(fields.param, redactor, 100) : null,
    retryable: status === 429 || status === 502 || status === 503 || status === 504,
    cause: { status: upstreamStatus, body: clip(body, redactor, 2048) },
  });
}

/** A reply the gateway cannot use (malformed JSON, an HTML page with status 200, a missing field). */
export function unusableReply(provider: string, why: string, cause?: unknown): GatewayError {
  return new GatewayError('provider_error', 502, `provider ${provider} sent a reply the gateway cannot use: ${why}`, {
    provider,
    code: 'bad_upstream_response',
    cause,
  });
}

/** A reply, or one event of a stream, larger than UPSTREAM_REPLY_SIZE_LIMIT: refused rather than held. */
export function oversizedReply(provider: string, what: 'reply' | 'stream event', limit: number): GatewayError {
  return new GatewayError('provider_error', 502, `provider ${provider} sent a ${what} larger than ${limit} bytes`, {
    provider,
    code: 'upstream_reply_too_large',
  });
}
