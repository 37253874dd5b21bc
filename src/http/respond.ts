import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Admin routes answer errors as `core.GatewayError`; everything else in the OpenAI envelope. */
export type Dialect = 'admin' | 'openai';

export interface Reply {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function errorBody(err: GatewayError, dialect: Dialect): unknown {
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

export function sendError(res: ServerResponse, err: GatewayError, dialect: Dialect): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, errorBody(err, dialect), err.headers);
}
