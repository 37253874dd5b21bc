import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { OperationId } from '../../generated/operations.gen.ts';
import type { Logger } from '../log.ts';
import type { AuditTrace } from './audit.ts';
import type { Caller } from './caller.ts';
import type { Reply } from './respond.ts';

/** What a handler gets: the raw exchange (streaming handlers write to `res` themselves) and parsed input. */
export interface HandlerContext {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  log: Logger;
  headers: IncomingHttpHeaders;
  /** Query parameters, coerced to the types openapi.json declares. */
  query: Record<string, unknown>;
  /** Path parameters (`{id}`), as strings. */
  params?: Record<string, string>;
  /** Who the request authenticated as (absent on routes that need no key). */
  caller?: Caller;
  /** Parsed JSON body, already validated against the operation's schema. */
  body: unknown;
  /** The body as received (empty without one). */
  rawBody: Buffer;
  /** The request's audit entry in the making, on /v1 and passthrough routes while the audit log is on. */
  audit?: AuditTrace;
}

/** A handler returns a JSON reply, or nothing when it has written the response itself. */
export type Handler = (ctx: HandlerContext) => Promise<Reply | void>;

/** One handler per operationId of openapi.json; a missing or misspelt one is a type error. */
export type Handlers = { [K in OperationId]: Handler };

export function header(ctx: HandlerContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
