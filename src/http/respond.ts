import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import { anthropicErrorBody } from '../ingress/errors.ts';

/** Admin routes answer errors as `core.GatewayError`, `/v1/messages` in Anthropic's envelope, everything else in OpenAI's. */
export type Dialect = 'admin' | 'openai' | 'anthropic';

export interface Reply {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * Headers as the flat list `writeHead` takes: on a response with no header set before, Node
 * writes the list as given instead of storing and validating each header twice.
 */
export function headerList(requestId: string | undefined, headers: Record<string, string> | undefined, contentType: string, length: number, extra?: readonly string[]): (string | number)[] {
  const list: (string | number)[] = requestId === undefined ? [] : ['X-Request-ID', requestId];
  for (const name in headers) list.push(name, headers[name]!);
  if (extra) for (const v of extra) list.push(v);
  list.push('Content-Type', contentType, 'Content-Length', length);
  return list;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>, requestId?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, headerList(requestId, headers, 'application/json', Buffer.byteLength(text)));
  res.end(text);
}

export function errorBody(err: GatewayError, dialect: Dialect): unknown {
  if (dialect === 'anthropic') return anthropicErrorBody(err);
  if (dialect === 'openai') return { error: { type: err.type, message: err.message, param: err.param, code: err.code } };
  return {
    type: err.type,
    message: err.message,
    param: err.param,
    code: err.code,
    status_code: err.status,
    ...(err.provider ? { provider: err.provider } : {}),
  };
}

/** Any thrown value becomes a GatewayError; unknown errors become an opaque 500. */
export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('provider_error', 500, 'an unexpected error occurred', { code: 'internal_error', cause: err });
}

export function sendError(res: ServerResponse, err: GatewayError, dialect: Dialect, requestId?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, errorBody(err, dialect), err.headers, requestId);
}
