import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Context, OpenAPIBackend } from 'openapi-backend';
import spec from '../../openapi.json' with { type: 'json' };
import { componentSchemas, operations, type OperationId } from '../../generated/operations.gen.ts';
import { GatewayError, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Authenticator } from './auth.ts';
import type { AuditLog, AuditTrace } from './audit.ts';
import type { Caller } from './caller.ts';
import { hasBody, refuseCrossSite, requireJson } from './admission.ts';
import { ClientGone } from '../providers/upstream.ts';
import { parseJsonBody, readBody } from './body.ts';
import type { Handler, HandlerContext, Handlers } from './context.ts';
import { asGatewayError, errorBody, sendError, sendJson, type Dialect, type Reply } from './respond.ts';
import { validationError } from './validation.ts';

export interface HttpOptions {
  log: Logger;
  bodySizeLimit: number;
  /** Who a request is, or the 401/403 refusing it. */
  auth: Authenticator;
  adminEnabled: boolean;
  /** Routes served outside the contract (dashboard assets, metrics). */
  extraRoutes?: ExtraRoute;
  /** One audit entry per /v1 and passthrough request; absent when AUDIT_ENABLED=false. */
  audit?: AuditLog;
}

/** A route outside the contract; returns true when it handled the request. */
export type ExtraRoute = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>;

interface FastRoute {
  method: string;
  operationId: OperationId;
  secured: boolean;
  handler: Handler;
  /** How the body is read: validated JSON, bytes as sent (passthrough), or not at all. */
  body: 'json' | 'raw' | 'none';
  validate: ValidateFunction | null;
}

const EMPTY: Buffer = Buffer.alloc(0);
/** strictNumbers: a JSON number too large for a double (`1e400`) parses as Infinity, which is no integer or number. */
const ajvOpts = { strict: false, strictNumbers: true } as const;
const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

const requestIdOf = (value: string | string[] | undefined): string =>
  typeof value === 'string' && requestIdPattern.test(value) ? value : randomUUID();

/** The contract's operations by path and method. */
const routes = new Map<string, Map<string, OperationId>>();
for (const [id, op] of Object.entries(operations) as [OperationId, (typeof operations)[OperationId]][]) {
  routes.set(op.path, (routes.get(op.path) ?? new Map<string, OperationId>()).set(op.method, id));
}
/**
 * Paths with parameters (`/v1/responses/{id}`), each parameter one segment, as patterns; the
 * passthrough's endpoint spans segments and has a dispatch of its own.
 */
const templates = [...routes]
  .filter(([path]) => path.includes('{') && !path.startsWith('/p/'))
  .map(([path, byMethod]) => [new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`), byMethod] as const);
/** Paths whose every operation is open (the health checks). */
const openPaths = new Set([...routes].filter(([, byMethod]) => [...byMethod.values()].every((id) => !operations[id].secured)).map(([path]) => path));

/** A path as openapi-backend matches it: trailing slashes do not count. */
const routePath = (path: string) => (path.length > 1 && path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path);

const writes = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The HTTP server. `/v1` operations and the health checks take a precomputed dispatch (a map
 * lookup, body validators compiled once) so the proxy path never pays openapi-backend's
 * per-request route matching; every other operation goes through openapi-backend, which routes,
 * authenticates and validates it. openapi-backend is loaded by the first such request, so a
 * process that only proxies (and answers probes) never holds it: 15-18 MB of resident memory.
 */
export function createHttpServer(handlers: Handlers, opts: HttpOptions): Server {
  const { log, auth } = opts;

  const ajv = new Ajv({ ...ajvOpts, allErrors: false });
  ajv.addSchema({ $id: 'openapi.json', components: { schemas: componentSchemas } });
  const fast = new Map<string, FastRoute>();
  // `/p/{provider}/{endpoint}` by method: its endpoint spans segments, which no path template matches.
  const passthrough = new Map<string, FastRoute>();
  for (const [id, op] of Object.entries(operations) as [OperationId, (typeof operations)[OperationId]][]) {
    // Paths with parameters (`/v1/responses/{id}`) go through openapi-backend, which matches them.
    if (op.tag === 'passthrough') {
      passthrough.set(op.method, { method: op.method, operationId: id, secured: op.secured, handler: handlers[id], body: op.method === 'GET' || op.method === 'DELETE' ? 'none' : 'raw', validate: null });
      continue;
    }
    if ((op.tag !== 'openai' && op.tag !== 'anthropic' && op.tag !== 'system') || op.path.includes('{')) continue;
    fast.set(op.path, {
      method: op.method,
      operationId: id,
      secured: op.secured,
      handler: handlers[id],
      body: op.requestBody ? 'json' : 'none',
      validate: op.requestBody ? ajv.compile({ $ref: `openapi.json#/components/schemas/${op.requestBody}` }) : null,
    });
  }

  let contractApiLoad: Promise<OpenAPIBackend> | undefined;
  const contractApi = () =>
    (contractApiLoad ??= buildContractApi().catch((err: unknown) => {
      contractApiLoad = undefined;
      throw err;
    }));

  async function buildContractApi(): Promise<OpenAPIBackend> {
    const { OpenAPIBackend } = await import('openapi-backend');
    // quick: skips validating the definition against the OpenAPI meta-schema (the contract tests
    // do that) and compiles each operation's validators on its first request. Startup garbage from
    // the eager path left the heap 40 MB larger for the life of the process.
    const api = new OpenAPIBackend({
      definition: structuredClone(spec) as never,
      strict: true,
      quick: true,
      coerceTypes: true,
      ajvOpts,
      // Parameters: query parameters the operation does not declare are dropped rather than
      // refused, as the original gateway ignores them (a cache-buster such as `?_=123`); bodies
      // keep refusing unknown fields. And no strictNumbers: ajv coerces the text `1e400` to
      // Infinity and then, with strictNumbers, skips `maximum` and `minimum` on it.
      customizeAjv: (ajv, options, context) => (context === 'paramsValidator' ? new Ajv({ ...options, strictNumbers: false, removeAdditional: true }) : ajv),
    });
    for (const [id, handler] of Object.entries(handlers) as [OperationId, Handler][]) {
      api.register(id, (c: Context, ctx: HandlerContext) =>
        handler({ ...ctx, query: c.request.query as Record<string, unknown>, params: c.request.params as Record<string, string>, body: c.request.requestBody }),
      );
    }
    api.register({
      validationFail: (c: Context) => {
        throw validationError(c.validation.errors ?? []);
      },
    });
    // admit() checked the key, before the body was read.
    api.registerSecurityHandler('BearerAuth', () => true);
    return api.init();
  }

  async function runFast(route: FastRoute, req: IncomingMessage, res: ServerResponse, requestId: string, audit: AuditTrace | undefined): Promise<Reply | void> {
    if (req.method !== route.method) {
      throw new GatewayError('invalid_request_error', 405, `method ${req.method} is not allowed here`, {
        code: 'method_not_allowed',
        headers: { Allow: route.method },
      });
    }
    const caller = route.secured ? auth.api(req.headers) : undefined;
    let body: unknown;
    let rawBody = EMPTY;
    if (route.validate && hasBody(req)) requireJson(req);
    if (route.body !== 'none') rawBody = await readBody(req, opts.bodySizeLimit);
    if (audit) {
      audit.caller = caller;
      audit.body = rawBody;
    }
    if (route.validate) {
      body = parseJsonBody(rawBody);
      if (!route.validate(body)) throw validationError(route.validate.errors ?? []);
    }
    // Awaited rather than returned: an async function returning a promise costs two more microtask turns.
    return await route.handler({ req, res, requestId, log, headers: req.headers, query: {}, body, rawBody, caller, audit });
  }

  /**
   * Decides everything about a request on the contract that needs none of its body, and refuses
   * it before reading any: no key (every path but the health checks needs one, unknown ones too),
   * no such route, a cross-site admin change, a body that is not JSON. A refused body is never
   * read: 100 unauthenticated 9.9 MB bodies at once took the process from 111 to 977 MB when
   * they were read and parsed first.
   */
  function admit(req: IncomingMessage, path: string, dialect: Dialect): { id: OperationId; caller: Caller | undefined } {
    const key = routePath(path);
    const caller = openPaths.has(key) ? undefined : dialect === 'admin' ? auth.admin(req.headers) : auth.api(req.headers);
    const byMethod = routes.get(key) ?? templates.find(([pattern]) => pattern.test(key))?.[1];
    if (!byMethod) throw notFound(`no route for ${req.method} ${path}`, 'route_not_found');
    const id = byMethod.get(req.method ?? 'GET');
    if (!id) {
      throw new GatewayError('invalid_request_error', 405, `method ${req.method} is not allowed on ${path}`, {
        code: 'method_not_allowed',
        headers: { Allow: [...byMethod.keys()].join(', ') },
      });
    }
    if (dialect === 'admin' && writes.has(req.method!)) refuseCrossSite(req);
    if (operations[id].requestBody && hasBody(req)) requireJson(req);
    return { id, caller };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdOf(req.headers['x-request-id']);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const dialect: Dialect = path.startsWith('/admin') ? 'admin' : path.startsWith('/v1/messages') ? 'anthropic' : 'openai';
    const audit = opts.audit && (path.startsWith('/v1/') || path.startsWith('/p/')) ? opts.audit.begin(req, requestId, path) : undefined;
    try {
      let reply: Reply | void;
      // Responses on the fast dispatch carry X-Request-ID in the headers they are written with;
      // everything else may write its own, so it is set up front.
      const route = fast.get(path) ?? (path.startsWith('/p/') ? passthrough.get(req.method ?? '') : undefined);
      if (route) reply = await runFast(route, req, res, requestId, audit);
      else {
        res.setHeader('X-Request-ID', requestId);
        if (opts.extraRoutes && (await opts.extraRoutes(req, res, path))) return;
        if (!opts.adminEnabled && dialect === 'admin') throw notFound('admin endpoints are disabled', 'route_not_found');
        const { id, caller } = admit(req, path, dialect);
        const raw = operations[id].requestBody ? await readBody(req, opts.bodySizeLimit) : EMPTY;
        const ctx: HandlerContext = {
          req,
          res,
          requestId,
          log,
          headers: req.headers,
          query: {},
          body: parseJsonBody(raw),
          rawBody: raw,
          caller,
          audit,
        };
        if (audit) {
          audit.caller = caller;
          audit.body = raw;
        }
        const api = await contractApi();
        reply = (await api.handleRequest({ method: req.method ?? 'GET', path: url, headers: req.headers as Record<string, string>, body: ctx.body }, ctx)) as Reply | void;
      }
      // A request that wrote no usage row is journaled here, before its reply (or after a reply it wrote itself).
      if (audit && !audit.written) await opts.audit!.write(audit, reply ? (reply.status ?? 200) : audit.status || res.statusCode);
      if (reply) sendJson(res, reply.status ?? 200, reply.body, reply.headers, requestId);
    } catch (err) {
      const gone = err instanceof ClientGone;
      const e = gone ? undefined : asGatewayError(err);
      // A client that left mid-body still has its entry, as 499 (client closed request).
      if (audit && !audit.written) await opts.audit!.write(audit, e?.status ?? 499, e);
      // Nobody to answer, nothing went wrong here.
      if (!e) return void res.destroy();
      if (e.status >= 500) log.error({ err: e.cause ?? e, requestId, path }, e.message);
      // Refused before all of its body arrived: close the connection rather than read the rest.
      if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      sendError(res, e, dialect, requestId);
    }
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => void handle(req, res));
  server.on('clientError', answerUnparsable);
  return server;
}

/**
 * A request Node's parser refused before any handler saw it: headers over its 16 KB limit (431) or
 * malformed HTTP (400), answered in the envelope of the route its request line names, when the
 * bytes show it. Node's own answer has no body, which clients cannot tell from a proxy's.
 */
function answerUnparsable(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const e = tooLarge
    ? new GatewayError('invalid_request_error', 431, 'the request line and headers together exceed 16 KB', { code: 'headers_too_large' })
    : new GatewayError('invalid_request_error', 400, 'the request is not well-formed HTTP/1.1', { code: 'bad_http_request' });
  const line = err.rawPacket?.subarray(0, 64).toString('latin1') ?? '';
  const dialect: Dialect = /^[A-Z]+ \/admin(\/|\?| )/.test(line) ? 'admin' : /^[A-Z]+ \/v1\/messages(\/|\?| )/.test(line) ? 'anthropic' : 'openai';
  const body = JSON.stringify(errorBody(e, dialect));
  socket.end(
    `HTTP/1.1 ${e.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
