import type { BudgetGuard, Reservation } from '../budgets/guard.ts';
import { cacheTicket, type CacheTicket } from '../cache/policy.ts';
import type { ResponseCache } from '../cache/store.ts';
import { GatewayError, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { oversizedReply, unusableReply } from '../providers/errors.ts';
import type { FailoverRules } from '../failover/rules.ts';
import type { ProviderHealthBook } from '../providers/breaker.ts';
import type { ProviderRegistry, Route } from '../providers/registry.ts';
import { SseSplitter } from '../providers/sse.ts';
import type { SseEvent, TokenUsage, UpstreamRequest } from '../providers/types.ts';
import { ClientGone, HeaderTimeout, INTERRUPTED_BY_SHUTDOWN, type Exchange, type Upstream } from '../providers/upstream.ts';
import { usageRecord, type Completed } from '../usage/entry.ts';
import type { PriceBook } from '../usage/pricing.ts';
import type { Admission, RateLimiter } from '../ratelimits/limiter.ts';
import type { VirtualModels } from '../routing/virtual-models.ts';
import type { UsageRecorder } from '../usage/recorder.ts';
import type { Attribution } from './attribution.ts';
import type { AuditTrace } from './audit.ts';
import type { Caller } from './caller.ts';
import type { HandlerContext } from './context.ts';
import { headerList } from './respond.ts';

export interface ProxyDeps {
  registry: ProviderRegistry;
  upstream: Upstream;
  recorder: UsageRecorder;
  prices: PriceBook;
  metrics: Metrics;
  log: Logger;
  attribute: (headers: HandlerContext['headers'], caller?: Caller) => Attribution;
  /** null when BUDGETS_ENABLED=false. */
  guard: BudgetGuard | null;
  /** null when RATE_LIMITS_ENABLED=false. */
  limiter: RateLimiter | null;
  /** Virtual models (aliases, weighted targets) and access policies. */
  virtual: VirtualModels;
  /** Ask providers for usage on streams (ENFORCE_RETURNING_USAGE_DATA). */
  includeUsage: boolean;
  anthropicDefaultMaxTokens: number;
  /** Largest non-streaming reply, or stream event, held in memory (UPSTREAM_REPLY_SIZE_LIMIT). */
  replySizeLimit: number;
  /** null when FAILOVER_ENABLED=false. */
  failover: FailoverRules | null;
  /** Circuit breakers and latencies per provider and model. */
  health: ProviderHealthBook;
  /** A stream's first byte must come this soon after the request (HTTP_RESPONSE_HEADER_TIMEOUT); 0: only HTTP_TIMEOUT applies. */
  firstByteTimeoutMs: number;
  /** The exact response cache; null when CACHE_ENABLED=false. */
  cache: ResponseCache | null;
}

/** Largest provider error body the gateway reads. */
const ERROR_LIMIT = 1024 * 1024;
const clientLeft = 'client disconnected before the reply; usage read from it';
/** Failures that count against a provider's breaker, besides its 5xx replies: it could not be reached, did not answer in time, or broke off. */
const breakerCodes = new Set(['upstream_unreachable', 'upstream_timeout', 'upstream_interrupted', 'stream_interrupted']);

/**
 * Whether another model may succeed where this error failed: the provider was unavailable,
 * overloaded or rate limited, or does not serve the model (404); never the request's own fault
 * or a shutdown.
 */
function switchable(err: GatewayError): boolean {
  return (err.status === 429 || err.status === 404 || err.status >= 500) && err.code !== INTERRUPTED_BY_SHUTDOWN && err.code !== 'shutting_down';
}
/** The metrics' model label for a model no provider lists or is configured with. */
const OTHER_MODEL = 'other';
const LF = 10;

/** Header values are visible ASCII: a model id a client made up may not be, and is then left out. */
const headerSafe = /^[\x20-\x7e]+$/;

/** X-GoModel-Provider and X-GoModel-Model: which route answered, as the flat list `writeHead` takes. */
function answeredBy(r: Route): string[] {
  return headerSafe.test(r.model) ? ['X-GoModel-Provider', r.entry.config.name, 'X-GoModel-Model', r.model] : ['X-GoModel-Provider', r.entry.config.name];
}

const cacheHit = ['X-Cache', 'HIT (exact)'];

/** As the flat list `writeHead` takes (see headerList), X-Request-ID going first. */
const sseHeaders = ['Content-Type', 'text/event-stream; charset=utf-8', 'Cache-Control', 'no-cache', 'Connection', 'keep-alive', 'X-Accel-Buffering', 'no'];

function eventText(ev: SseEvent): string {
  const data = ev.data.includes('\n') ? ev.data.replace(/\n/g, '\ndata: ') : ev.data;
  return ev.event ? `event: ${ev.event}\ndata: ${data}\n\n` : `data: ${data}\n\n`;
}

/** Where the last event of a block of whole events begins: just after the blank line before it. */
function lastEventStart(bytes: Buffer): number {
  let i = bytes.length - 1;
  while (i >= 0 && (bytes[i] === LF || bytes[i] === 13)) i--;
  for (; i > 0; i--) if (bytes[i] === LF && (bytes[i - 1] === LF || (bytes[i - 1] === 13 && bytes[i - 2] === LF))) return i + 1;
  return 0;
}

/** What one provider event means to the client of a relayed stream. */
export interface WriterStep {
  /** Text to write for the event; `null` to pass the event's own bytes on. */
  out: string | null;
  usage?: TokenUsage;
  error?: GatewayError;
  /** The provider has said all it will say (a finish reason, a terminal event). */
  complete?: boolean;
  /**
   * The event that ends the stream (`[DONE]`, `response.completed`, `message_stop`): it leaves
   * last, once the stream's usage row is journaled, so a client that saw the end has its row.
   */
  last?: boolean;
}

/**
 * How a relay writes one provider stream in the API its client speaks: the provider's events
 * unchanged (same API in and out) or translated through the internal chat shape. Created per
 * request.
 */
export interface StreamWriter {
  event(ev: SseEvent): WriterStep;
  /** What closes a stream the provider ended cleanly, after its own last event if it sent one. */
  end(usage: TokenUsage | undefined): string;
  /** The API's error event for a stream that failed. */
  fail(err: GatewayError): string;
  /** The provider's response id and model, once seen. */
  readonly id: string;
  readonly model: string;
}

/** A non-streaming reply: what to send (null: the provider's bytes unchanged) and what to record. */
export interface ReplyResult {
  response: Record<string, unknown> | null;
  usage: TokenUsage | null;
  id: string;
  model: string;
}

/** A model call as sent to one route: the primary model's, or a fallback's. */
export interface RouteCall {
  route: Route;
  /** The request as chat completions (messages, max_tokens), which budget reservations are estimated from. */
  estimateFrom: Record<string, unknown>;
  /** The provider request; built after the reservation, since adapters may rewrite the body. */
  request: () => UpstreamRequest;
  writer: () => StreamWriter;
  result: (json: unknown) => ReplyResult;
}

/** One proxied call to a model, whatever API the client speaks. */
export interface ModelCall extends RouteCall {
  who: Attribution;
  /** The endpoint usage rows carry. */
  endpoint: string;
  stream: boolean;
  /** The model as the client named it: what failover rules are looked up by. */
  requested: string;
  /** The same call built for another route, a fallback model's. */
  reroute: (r: Route) => RouteCall;
}

/**
 * A proxied request under way, timed and logged when it ends (`end`). Unless `settled` says a
 * usage row will settle its reservation against the budgets of its path, the reservation goes
 * back then, or, when the provider may have billed the request (`billable`: it was sent, and
 * neither refused nor unreachable), a row charging it settles it. The handlers run it inline
 * (begin, try, catch `failed`, finally `end`) rather than through a wrapper taking a callback,
 * and check the provider's status inline (`refused`): three async functions fewer on the path
 * of every request.
 */
export interface Proxied {
  done: (status: number, p: Proxied) => void;
  status: number;
  reservation: Reservation | null;
  /** What the request holds of its rate limits: released, with its tokens, when it ends. */
  admission: Admission | null;
  settled: boolean;
  billable: boolean;
  /** Why the request ended without a reply, for the caveat of the row that charges it. */
  lost: string;
  /** The route of the attempt under way; after a failover, a fallback's. */
  route: Route;
  endpoint: string;
  requestId: string;
  who: Attribution;
  /** `provider/model` of every attempt, once a request moved on from its first route; null until then. */
  tried: string[] | null;
  /** The request's audit entry in the making (AUDIT_ENABLED). */
  audit: AuditTrace | undefined;
  /** A request that uses the response cache; null for every other. */
  cache: CacheUse | null;
}

/** What a request using the response cache carries: its entry's key, and on a miss the stream as its client received it. */
export interface CacheUse {
  ticket: CacheTicket;
  /** A stream's bytes so far; null for a reply, or once the stream outgrew CACHE_MAX_ENTRY_BYTES. */
  parts: Buffer[] | null;
  bytes: number;
  hit: boolean;
}

/** What a usage row is made of: the request's attribution, what it holds of budgets and rate limits, its outcome. */
export type RowOf = Omit<Completed, 'userPath' | 'labels' | 'authMethod' | 'authKeyId' | 'sessionId'> & {
  who: Attribution;
  reservation: Reservation | null;
  admission: Admission | null;
  /** The request's audit entry, journaled with the row (a request's final row only). */
  audit?: AuditTrace | undefined;
  /** What ended a stream that failed after it began, for the audit entry. */
  failure?: GatewayError | undefined;
};

/** The request path every model endpoint shares: routing, rate limits, budgets, the provider exchange, relaying and usage rows. */
export function createProxy(deps: ProxyDeps) {
  const { registry, upstream, recorder, prices, metrics, virtual } = deps;

  /**
   * The route of a request's model for a caller at `who.userPath`: a virtual model's chosen target
   * (the body's `provider` hint bypasses virtual models, as in the original gateway), else the
   * model itself; an access policy closing it to the caller is a 403 `model_access_denied`. A
   * model no virtual model names costs one map miss; the policy check is skipped while no policy
   * exists. `requested` on the route is what usage rows keep as `requested_model`.
   */
  function route(body: Record<string, unknown>, who: Attribution): Route {
    const model = body.model as string;
    const hint = typeof body.provider === 'string' && body.provider ? body.provider : undefined;
    if (!hint) {
      const targets = virtual.routes(model, who.userPath);
      if (targets) return targets[0]!;
    }
    const r = registry.resolve(model, hint);
    if (!r) {
      if (hint) throw notFound(`unknown provider: ${hint}`, 'provider_not_found', 'provider');
      throw notFound(`unsupported model: ${model}`, 'model_not_found', 'model');
    }
    virtual.authorize(r, model, who.userPath);
    return r;
  }

  /**
   * Records the row of a request attributed to `who`; resolves once it is in the journal, which a
   * response's last bytes wait for. The row settles the request's reservation, and its tokens
   * count against its rate limits.
   */
  function record(c: RowOf): Promise<void> {
    const { who } = c;
    const row = usageRecord(
      { ...c, userPath: who.userPath, labels: who.labels, authMethod: who.authMethod, authKeyId: who.authKeyId, sessionId: who.sessionId },
      prices,
    );
    const t = c.audit;
    if (t) t.routed(c.provider.name, c.provider.type, c.model, c.routedModel);
    const journaled = recorder.record(row, t?.finish(200, c.failure));
    if (c.reservation) deps.guard!.settled(c.reservation, row.total_cost);
    if (c.admission) deps.limiter!.finish(c.admission, row.total_tokens);
    return journaled;
  }

  /** Times a proxied request for the metrics and writes its access-log line when it ends. */
  function track(r: Route, endpoint: string, stream: boolean, requestId: string): (status: number, p: Proxied) => void {
    const started = performance.now();
    // Only listed and configured models become label values: a client naming any model it likes
    // (`openai/anything`) would otherwise add series without end.
    const done = metrics.request(r.entry.config.name, modelLabel(r), endpoint, stream);
    return (status, p) => {
      done(status);
      // Checked first: the line's fields would be built for nothing above LOG_LEVEL=info.
      if (deps.log.isLevelEnabled('info')) {
        const a = p.route;
        const line: Record<string, unknown> = { requestId, provider: a.entry.config.name, model: a.model, endpoint, stream, status, ms: Math.round((performance.now() - started) * 10) / 10 };
        if (p.cache?.hit) line.cache = 'hit';
        if (p.tried) {
          line.requested = `${r.entry.config.name}/${r.model}`;
          line.attempts = p.tried.length;
          line.tried = p.tried;
        }
        deps.log.info(line, 'proxied');
      }
    };
  }

  const modelLabel = (r: Route) => (r.entry.models.has(r.model) ? r.model : OTHER_MODEL);

  /** An error status from the provider: its reply becomes the provider's mapped GatewayError. The provider bills no refused request. */
  async function refuse(p: Proxied, r: Route, ex: Exchange): Promise<never> {
    p.billable = false;
    throw r.entry.adapter.error(ex.res.statusCode ?? 502, (await ex.readAll(ERROR_LIMIT)).toString('utf8'));
  }

  const refused = (ex: Exchange) => (ex.res.statusCode ?? 502) >= 400;

  /** The provider's whole reply, parsed (read by the caller: an async function less on the path of every reply). */
  function parseReply(ex: Exchange, raw: Buffer, provider: string): unknown {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      // Not the SyntaxError as the cause: its message quotes the reply's first bytes, which may be a key.
      throw unusableReply(provider, `reply of ${raw.length} bytes is not JSON (content-type ${ex.res.headers['content-type'] ?? 'none'})`);
    }
  }

  /**
   * Relays a provider's event stream to the client as it arrives, in the client's API (`writer`):
   * whole events pass through unchanged where the writer says so, else its text goes instead; the
   * last usage-bearing event wins. The provider is paused while the client reads slower than it
   * sends. A stream that breaks or ends early is closed with the API's error event. Event
   * listeners rather than an async iterator: one fewer promise and microtask hop per chunk on the
   * path every streamed token takes.
   *
   * With `canSwitch` (a fallback model is left), nothing is sent to the client before the
   * provider's first bytes: a stream that fails before them resolves with its error, nothing
   * written and no row recorded, for the caller to try the next model.
   */
  async function relay(ex: Exchange, r: Route, writer: StreamWriter, ctx: HandlerContext, p: Proxied, canSwitch: boolean, latencyMs: number): Promise<GatewayError | null> {
    const { res } = ctx;
    const up = ex.res;
    const splitter = new SseSplitter(deps.replySizeLimit);
    let usage: TokenUsage | undefined;
    let complete = false;
    let failure: GatewayError | undefined;
    /** The provider's last event, held until the row is journaled. */
    let last: Buffer | string = '';
    const headers = streamHeaders(ctx, p);
    const asm = p.audit?.assembler;
    let opened = !canSwitch;
    if (opened) res.writeHead(200, headers);
    // The headers leave with the first event, in the same write, when it came with the provider's
    // headers (as it usually does): one client wakeup less before the first token. Otherwise they
    // leave on their own at once, so a client waiting on a slow first event sees the stream open.
    const openStream = opened ? setImmediate(() => res.flushHeaders()) : undefined;
    // A provider that sends its headers and then nothing is as stuck as one that sends none.
    let firstByte = deps.firstByteTimeoutMs ? setTimeout(() => up.destroy(new HeaderTimeout()), deps.firstByteTimeoutMs) : undefined;
    await new Promise<void>((resolve) => {
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearImmediate(openStream);
        clearTimeout(firstByte);
        up.off('data', onData);
        if (err !== undefined) {
          const mapped = ex.failure(err);
          if (!(mapped instanceof ClientGone)) failure = mapped as GatewayError;
        }
        up.destroy();
        resolve();
      };
      const onData = (chunk: Buffer) => {
        if (firstByte) {
          clearTimeout(firstByte);
          firstByte = undefined;
        }
        const pushed = splitter.push(chunk);
        if (!pushed) {
          failure = oversizedReply(r.entry.config.name, 'stream event', deps.replySizeLimit);
          return finish();
        }
        const events = pushed.events;
        let bytes = pushed.bytes;
        // Blocks with no event (a provider's keep-alive comments) pass on too when relayed verbatim.
        if (bytes.length === 0) return;
        clearImmediate(openStream);
        let out = '';
        let verbatim = true;
        for (const ev of events) {
          asm?.push(ev.data);
          const step = writer.event(ev);
          if (step.usage) usage = step.usage;
          if (step.complete) complete = true;
          if (step.error) {
            failure = step.error;
            verbatim = false;
            break;
          }
          if (step.last) {
            // The bytes before it still pass unchanged when it ends the block, as it does.
            if (verbatim && step.out === null && ev === events[events.length - 1]) {
              const at = lastEventStart(bytes);
              last = bytes.subarray(at);
              bytes = bytes.subarray(0, at);
            } else {
              verbatim = false;
              last = step.out ?? eventText(ev);
            }
            continue;
          }
          if (step.out === null) out += eventText(ev);
          else {
            verbatim = false;
            out += step.out;
          }
        }
        // An error before anything reached the client leaves it untouched, for the next model.
        if (failure && !opened) return finish();
        if (!opened) {
          opened = true;
          res.writeHead(200, headers);
        }
        // Once the client is gone (a budgeted stream reads on for its usage), events are only read.
        const text = verbatim ? bytes : out;
        if (p.cache?.parts) capture(p.cache, text);
        const flushed = res.destroyed || text.length === 0 || res.write(text);
        if (failure) return finish();
        if (!flushed && !res.destroyed) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      };
      up.on('data', onData);
      up.on('end', () => finish());
      up.on('error', finish);
      // A destroyed response (client gone, timeout) may close without 'end' or 'error'.
      up.on('close', () => finish(up.complete ? undefined : new Error('stream closed before it ended')));
    });
    if (!failure && !ex.clientGone && !complete) {
      failure = new GatewayError('provider_error', 502, `provider ${r.entry.config.name} ended the stream before it was complete`, {
        provider: r.entry.config.name,
        code: 'stream_interrupted',
      });
    }
    if (!opened && failure && failure.code !== INTERRUPTED_BY_SHUTDOWN) return failure;
    note(r, failure, latencyMs);
    const cut = failure?.code === INTERRUPTED_BY_SHUTDOWN;
    const caveat = cut
      ? usage
        ? 'interrupted by gateway shutdown'
        : 'interrupted by gateway shutdown before the provider reported usage'
      : usage
        ? ex.clientGone
          ? 'client disconnected before the end of the stream; usage read from the rest of it'
          : undefined
        : ex.clientGone
          ? 'client disconnected before the provider reported usage'
          : failure
            ? 'stream failed before the provider reported usage'
            : 'provider reported no usage for this stream';
    const journaled = record({
      requestId: ctx.requestId,
      providerId: writer.id,
      model: writer.model || r.model,
      routedModel: r.model,
      requestedModel: r.requested,
      provider: r.entry.config,
      endpoint: p.endpoint,
      who: p.who,
      usage: usage ?? null,
      caveat,
      reservation: p.reservation,
      admission: p.admission,
      audit: p.audit,
      failure: failure && !ex.clientGone ? failure : undefined,
    });
    if (!res.destroyed) {
      if (!opened) res.writeHead(200, headers);
      await journaled;
      if (failure) res.end(writer.fail(failure));
      else {
        const closing = writer.end(usage);
        if (last.length) res.write(last);
        res.end(closing);
        const c = p.cache;
        if (c?.parts && !ex.clientGone) {
          capture(c, last);
          capture(c, closing);
          if (c.parts) keep(p, Buffer.concat(c.parts), true, writer.model || r.model, writer.id, usage);
        }
      }
    }
    if (failure) deps.log.warn({ requestId: ctx.requestId, provider: r.entry.config.name, err: failure.message }, 'stream ended with an error');
    return null;
  }

  function streamHeaders(ctx: HandlerContext, p: Proxied): string[] {
    const list = ['X-Request-ID', ctx.requestId, ...sseHeaders, ...answeredBy(p.route)];
    if (p.admission) for (const name in p.admission.headers) list.push(name, p.admission.headers[name]!);
    return list;
  }

  function begin(r: Route, endpoint: string, stream: boolean, requestId: string, who: Attribution, audit?: AuditTrace): Proxied {
    if (audit) {
      audit.who = who;
      audit.stream = stream;
      audit.requested = r.requested ?? (r.model || null);
      audit.routed(r.entry.config.name, r.entry.config.type, r.model);
    }
    return { done: track(r, endpoint, stream, requestId), status: 200, reservation: null, admission: null, settled: false, billable: false, lost: '', route: r, endpoint, requestId, who, tried: null, cache: null, audit };
  }

  /** Adds what a cached stream's client was sent; past CACHE_MAX_ENTRY_BYTES the stream is not kept. */
  function capture(c: CacheUse, text: Buffer | string): void {
    if (text.length === 0) return;
    // Copied: the relay's buffers are the socket's.
    const b = Buffer.from(text as Uint8Array & string);
    c.bytes += b.length;
    if (c.bytes > deps.cache!.settings.maxEntryBytes) c.parts = null;
    else c.parts!.push(b);
  }

  /**
   * For a request that uses the response cache (an opt-in header or an operator rule; see
   * src/cache/policy.ts): answers it from a live entry and returns true, or notes its key for
   * storing the reply. A hit reserves nothing (budgets count provider spend only), takes its
   * admission under rate limits with no tokens, and writes a usage row with cache_type `exact` and
   * the cached reply's tokens at no cost, journaled before the reply goes out. `body` is the
   * client's, before any adapter rewrote it.
   */
  async function fromCache(ctx: HandlerContext, p: Proxied, body: Record<string, unknown>, stream: boolean): Promise<boolean> {
    const { who, route: r } = p;
    const ticket = cacheTicket(deps.cache!.settings, {
      headers: ctx.headers,
      userPath: who.userPath,
      authMethod: who.authMethod,
      authKeyId: who.authKeyId,
      endpoint: p.endpoint,
      provider: r.entry.config.name,
      model: r.model,
      requested: body.model as string,
      body,
    });
    if (!ticket) return false;
    p.cache = { ticket, parts: stream ? [] : null, bytes: 0, hit: false };
    const hit = await deps.cache!.lookup(ticket.key);
    if (!hit || hit.stream !== stream) return false;
    p.cache.hit = true;
    if (p.audit?.assembler && !stream) p.audit.response = hit.body;
    p.settled = true;
    if (p.admission) deps.limiter!.finish(p.admission, 0);
    await record({
      requestId: ctx.requestId,
      providerId: hit.providerId,
      model: hit.model,
      routedModel: r.model,
      requestedModel: r.requested,
      provider: r.entry.config,
      endpoint: p.endpoint,
      who,
      usage: hit.usage,
      caveat: hit.usage ? undefined : 'the cached reply reported no usage',
      reservation: null,
      admission: null,
      cacheType: 'exact',
      audit: p.audit,
    });
    const { res } = ctx;
    if (stream) res.writeHead(200, [...streamHeaders(ctx, p), ...cacheHit]);
    else res.writeHead(200, headerList(ctx.requestId, p.admission?.headers, 'application/json', hit.body.length, [...answeredBy(r), ...cacheHit]));
    res.end(hit.body);
    return true;
  }

  /** Stores a reply its client received whole, unless a fallback model answered it (the entry is the requested route's). */
  function keep(p: Proxied, body: Buffer, stream: boolean, model: string, providerId: string, usage: TokenUsage | null | undefined): void {
    if (p.tried || !p.cache) return;
    const { route: r } = p;
    deps.cache!.store(p.cache.ticket.key, { body, stream, model, providerId, usage: usage ?? null, endpoint: p.endpoint, provider: r.entry.config.name, routedModel: r.model, ttlMs: p.cache.ticket.ttlMs });
  }

  /** Admits the request under its rate limits; a promise only when a lease must be topped up first. */
  function admit(who: Attribution): Admission | null | Promise<Admission> {
    return deps.limiter ? deps.limiter.admit(who.userPath, who.authKeyId) : null;
  }

  /** Reserves the request's worst-case cost; a promise only when a lease must be topped up first. */
  function reserve(who: Attribution, r: Route, body: Record<string, unknown>, bodyBytes: number): Reservation | null | Promise<Reservation | null> {
    return deps.guard ? deps.guard.reserve(who.userPath, r.entry.config, r.model, body, bodyBytes) : null;
  }

  /** The row of a request that ended without a reply although the provider may bill it. */
  function lostRow(p: Proxied): RowOf {
    const { route: r, who } = p;
    return {
      requestId: p.requestId,
      providerId: '',
      model: r.model,
      requestedModel: r.requested,
      provider: r.entry.config,
      endpoint: p.endpoint,
      who,
      usage: null,
      caveat: p.lost,
      reservation: p.reservation,
      admission: p.admission,
    };
  }

  /**
   * Notes the status an error ends the request with; rethrows it unless the client went away. A
   * request the shutdown cut while the provider had it gets its row whether or not a budget
   * applies (the provider may bill it), journaled before the client sees the error.
   */
  async function failed(p: Proxied, err: unknown): Promise<void> {
    p.status = err instanceof GatewayError ? err.status : err instanceof ClientGone ? 499 : 500;
    if (err instanceof GatewayError && err.code === 'upstream_unreachable') p.billable = false;
    const cut = err instanceof GatewayError && err.code === INTERRUPTED_BY_SHUTDOWN;
    p.lost = err instanceof ClientGone
      ? 'client disconnected before the provider replied'
      : cut
        ? 'interrupted by gateway shutdown before the provider replied'
        : `no reply: ${(err as Error).message}`;
    if (cut && p.billable && !p.settled) {
      p.settled = true;
      await record(lostRow(p));
    }
    if (!(err instanceof ClientGone)) throw err;
  }

  function end(p: Proxied): void {
    if (!p.settled) {
      if (p.reservation && p.billable && p.reservation.femto) void record(lostRow(p));
      else {
        if (p.reservation) deps.guard!.release(p.reservation);
        if (p.admission) deps.limiter!.finish(p.admission, 0);
      }
    }
    if (p.audit) {
      p.audit.status = p.status;
      if (!p.audit.written) p.audit.routed(p.route.entry.config.name, p.route.entry.config.type, p.route.model);
    }
    p.done(p.status, p);
  }

  /** Sends the translated reply, or the provider's bytes unchanged when there is none, with the rate limit headers and which model answered; returns what it sent. */
  function reply(ctx: HandlerContext, p: Proxied, response: Record<string, unknown> | null, raw: Buffer): string | Buffer {
    const body = response ? JSON.stringify(response) : raw;
    ctx.res.writeHead(200, headerList(ctx.requestId, p.admission?.headers, 'application/json', response ? Buffer.byteLength(body) : raw.length, answeredBy(p.route)));
    ctx.res.end(body);
    return body;
  }

  /**
   * What an attempt's end tells the breaker of its provider and model: transport failures,
   * timeouts and 5xx count against it; 429s and the client's own errors or leaving count for
   * nothing (the provider answered, or never got the chance).
   */
  function note(r: Route, failure: GatewayError | undefined, latencyMs: number, upstreamStatus = 0): void {
    const health = deps.health.of(r.entry.config.name);
    if (!failure) return health.succeeded(r.model, latencyMs, Date.now());
    if (upstreamStatus >= 500 || (upstreamStatus === 0 && breakerCodes.has(failure.code ?? ''))) health.failed(r.model, failure.message, Date.now());
    else health.neutral(r.model);
  }

  /**
   * Gives up an attempt to move on to the next model: its reservation goes back, unless the
   * provider may bill it (it took the request and did not refuse it), when a row charges it.
   */
  function abandon(p: Proxied, err: GatewayError): void {
    if (p.reservation) {
      if (p.billable && p.reservation.femto) {
        p.lost = `failed over: ${err.message}`;
        void record({ ...lostRow(p), admission: null });
      } else deps.guard!.release(p.reservation);
    }
    p.reservation = null;
    p.billable = false;
  }

  /** The call for the next model of the chain that resolves; null when none is left. */
  function fallbackOf(c: ModelCall, chain: readonly string[], from: number): { call: RouteCall; next: number } | null {
    for (let i = from; i < chain.length; i++) {
      let r: Route;
      try {
        // Access policies apply to fallbacks too; the row keeps the model the client asked for.
        r = { ...route({ model: chain[i] }, c.who), requested: c.route.requested };
      } catch (err) {
        deps.log.warn({ model: chain[i], err: (err as Error).message }, 'failover: a fallback model is unknown or closed to this caller; skipped');
        continue;
      }
      return { call: c.reroute(r), next: i + 1 };
    }
    return null;
  }

  function circuitOpen(r: Route): GatewayError {
    const name = r.entry.config.name;
    const retryAfter = String(deps.health.of(name).retryAfterSeconds(r.model, Date.now()));
    return new GatewayError('provider_error', 503, `circuit breaker is open for ${name}/${r.model} - provider temporarily unavailable`, { provider: name, code: 'circuit_open', retryable: true, headers: { 'Retry-After': retryAfter } });
  }

  /**
   * A model call from start to usage row: reserve, send, relay or reply, record; the reservation
   * goes back if no row settles it. When the model's provider cannot answer (unreachable, timed
   * out, 429, 5xx, its breaker open) and a failover rule names more models, the call moves on to
   * the next, as long as nothing has reached the client yet.
   */
  async function call(ctx: HandlerContext, c: ModelCall): Promise<void> {
    const { who, stream } = c;
    const p = begin(c.route, c.endpoint, stream, ctx.requestId, who, ctx.audit);
    const chain = deps.failover?.fallbacks(c.requested, c.route.entry.config.name, c.route.model);
    let next = 0;
    let rc: RouteCall = c;
    try {
      const admitted = admit(who);
      p.admission = admitted instanceof Promise ? await admitted : admitted;
      if (deps.cache && (await fromCache(ctx, p, ctx.body as Record<string, unknown>, stream))) return;
      for (;;) {
        const r = rc.route;
        const more = chain !== undefined && next < chain.length;
        let err: GatewayError | null = null;
        if (!deps.health.of(r.entry.config.name).allows(r.model, Date.now())) err = circuitOpen(r);
        else {
          const reserved = reserve(who, r, rc.estimateFrom, ctx.rawBody.length);
          const reservation = (p.reservation = reserved instanceof Promise ? await reserved : reserved);
          p.billable = true;
          const started = performance.now();
          let ex: Exchange | null = null;
          try {
            // A budgeted request's reply is read on if its client leaves: the provider bills it anyway.
            ex = await upstream.send(r.entry.config, rc.request(), ctx.res, !stream, { drain: reservation !== null, failFast: more });
          } catch (e) {
            if (e instanceof GatewayError) note(r, e, 0);
            if (!(e instanceof GatewayError) || !more || !switchable(e)) throw e;
            if (e.code === 'upstream_unreachable') p.billable = false;
            err = e;
          }
          if (ex) {
            const latencyMs = performance.now() - started;
            if (refused(ex)) {
              const status = ex.res.statusCode ?? 502;
              p.billable = false;
              const e = r.entry.adapter.error(status, (await ex.readAll(ERROR_LIMIT)).toString('utf8'));
              note(r, e, latencyMs, status);
              if (!more || !switchable(e)) throw e;
              err = e;
            } else if (stream) {
              if (!String(ex.res.headers['content-type'] ?? '').includes('text/event-stream')) {
                await ex.readAll(deps.replySizeLimit);
                throw unusableReply(r.entry.config.name, `expected an event stream, got ${ex.res.headers['content-type'] ?? 'no content-type'}`);
              }
              p.settled = true;
              err = await relay(ex, r, rc.writer(), ctx, p, more, latencyMs);
              if (!err) return;
              p.settled = false;
              note(r, err, latencyMs);
            } else {
              note(r, undefined, latencyMs);
              const raw = await ex.readAll(deps.replySizeLimit);
              const result = rc.result(parseReply(ex, raw, r.entry.config.name));
              p.settled = true;
              if (p.audit?.assembler) p.audit.response = result.response ?? raw;
              await record({
                requestId: ctx.requestId,
                providerId: result.id,
                model: result.model || r.model,
                routedModel: r.model,
                requestedModel: r.requested,
                provider: r.entry.config,
                endpoint: c.endpoint,
                who,
                usage: result.usage,
                caveat: result.usage ? (ex.clientGone ? clientLeft : undefined) : 'provider reported no usage',
                reservation,
                admission: p.admission,
                audit: p.audit,
              });
              if (ex.clientGone) p.status = 499;
              else {
                const sent = reply(ctx, p, result.response, raw);
                if (p.cache) keep(p, typeof sent === 'string' ? Buffer.from(sent) : sent, false, result.model || r.model, result.id, result.usage);
              }
              return;
            }
          }
          abandon(p, err!);
        }
        // Here the attempt failed in a way the next model may not (or the breaker skipped it).
        const fallback = chain && fallbackOf(c, chain, next);
        if (!fallback) throw err!;
        next = fallback.next;
        rc = fallback.call;
        (p.tried ??= [`${r.entry.config.name}/${r.model}`]).push(`${rc.route.entry.config.name}/${rc.route.model}`);
        p.audit?.attempt(r.entry.config.name, r.model, err!);
        metrics.failover(r.entry.config.name, rc.route.entry.config.name);
        deps.log.warn({ requestId: ctx.requestId, from: `${r.entry.config.name}/${r.model}`, to: `${rc.route.entry.config.name}/${rc.route.model}`, err: err!.message }, 'failing over');
        p.route = rc.route;
      }
    } catch (err) {
      // An attempt that ended here without a verdict (the client left, its budget refused it)
      // must not hold its model's half-open probe.
      deps.health.get(p.route.entry.config.name)?.neutral(p.route.model);
      await failed(p, err);
    } finally {
      end(p);
    }
  }

  return { route, record, begin, admit, reserve, failed, end, refuse, refused, parseReply, reply, call, fromCache, keep };
}

export type Proxy = ReturnType<typeof createProxy>;
