import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { KeyRest, RetryPolicy } from '../config.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { oversizedReply } from './errors.ts';
import { KeyPool } from './key-pool.ts';
import type { ProviderConfig, UpstreamRequest } from './types.ts';

export interface UpstreamOptions {
  /** Whole exchange, response body included (HTTP_TIMEOUT). */
  timeoutMs: number;
  /** Until the response headers arrive (HTTP_RESPONSE_HEADER_TIMEOUT). */
  headerTimeoutMs: number;
  retry: RetryPolicy;
  /** How far an exchange that drains reads on once its client is gone (BUDGET_DRAIN_TIMEOUT, BUDGET_DRAIN_BYTES). */
  drain: Drain;
  /** How long a key of a provider with several rests after a refusal; defaults to 60 s (429) and 10 min (401/403). */
  keyRest?: KeyRest;
  /** Where a provider refusing one of its keys is reported. */
  log?: Logger;
}

export interface Drain {
  /** At most this long after the client left (and never past HTTP_TIMEOUT). */
  ms: number;
  /** At most this many bytes of the reply after the client left. */
  bytes: number;
}

interface Target {
  client: typeof http | typeof https;
  agent: http.Agent;
  hostname: string;
  port: number;
  /** The Host header: Node adds none when headers are given as a list. */
  host: string;
  basePath: string;
}

const retryableStatus = new Set([429, 502, 503, 504, 529]);
const defaultKeyRest: KeyRest = { rateLimitedMs: 60_000, refusedMs: 600_000 };
/** Statuses that say the key, not the request, is the trouble: the next key may be tried at once. */
const keyRefusal = (status: number) => status === 401 || status === 403 || status === 429;
const transportCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

/**
 * Deno's node:http re-sends a request whose reused keep-alive socket fails, even one we destroyed
 * (denoland/deno#36786): a provider would get a stream twice, and a timed-out request would be
 * sent again instead of ending. The flag its retry checks (`_retrying`) turns that off, so Deno
 * behaves as Node, and our own retry policy alone decides.
 */
const suppressRuntimeRetry = 'Deno' in globalThis;

/** No response headers (or, for a relayed stream, no first byte) within HTTP_RESPONSE_HEADER_TIMEOUT. */
export class HeaderTimeout extends Error {}

/** The client went away (its request was aborted): nothing to answer. */
export class ClientGone extends Error {}

/** The code of an exchange the gateway cut because it is shutting down (the provider may have done the work). */
export const INTERRUPTED_BY_SHUTDOWN = 'interrupted_by_shutdown';

/**
 * One request/response with a provider. A single timer covers the whole exchange; the client
 * going away ends it too, unless the exchange drains: then it reads on, bounded by `drain`, so
 * that the reader still learns the usage the provider bills. Both destroy the request in flight
 * rather than going through an AbortSignal, which costs a controller, a signal and listeners per
 * request.
 */
export class Exchange {
  private timer: NodeJS.Timeout;
  private readonly deadline: number;
  private request: ClientRequest | null = null;
  private wake: (() => void) | null = null;
  private timedOut = false;
  private gone = false;
  private cutShort = false;
  private ended = false;
  res!: IncomingMessage;

  private readonly onClientClose = () => {
    if (this.client?.writableFinished) return;
    this.gone = true;
    if (!this.drain) return this.abort();
    if (this.deadline - Date.now() > this.drain.ms) {
      clearTimeout(this.timer);
      this.timer = setTimeout(this.expire, this.drain.ms);
    }
    if (this.res) this.detach(this.res);
  };

  private readonly expire = () => {
    this.timedOut = true;
    this.abort();
  };

  constructor(
    private readonly provider: string,
    private readonly client: ServerResponse | null,
    timeoutMs: number,
    private readonly live: Set<Exchange>,
    private readonly drain: Drain | null = null,
  ) {
    live.add(this);
    this.timer = setTimeout(this.expire, timeoutMs);
    this.deadline = drain ? Date.now() + timeoutMs : 0;
    // `on`, not `once`, for events that fire once or whose listeners tolerate a second call:
    // `once` wraps every listener in a bound function, eight of them a request.
    if (client?.destroyed) this.onClientClose();
    else client?.on('close', this.onClientClose);
  }

  get aborted(): boolean {
    return this.timedOut || (this.gone && !this.drain) || this.cutShort;
  }

  /** Ends the exchange because the gateway is shutting down. */
  cut(): void {
    this.cutShort = true;
    this.abort();
  }

  /** The client went away before the exchange ended. */
  get clientGone(): boolean {
    return this.gone;
  }

  /** The request of the current attempt, destroyed if the exchange ends while it runs. */
  use(request: ClientRequest): void {
    this.request = request;
    if (this.aborted) request.destroy();
  }

  private abort(): void {
    this.request?.destroy();
    this.wake?.();
  }

  attach(res: IncomingMessage): void {
    this.res = res;
    res.on('close', () => this.end());
    if (this.gone && this.drain) this.detach(res);
  }

  /** Reads on without the client: flowing (its reader may have paused it for the client), bounded in bytes. */
  private detach(res: IncomingMessage): void {
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      if ((bytes += chunk.length) > this.drain!.bytes) this.expire();
    });
    res.resume();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.live.delete(this);
    clearTimeout(this.timer);
    this.client?.off('close', this.onClientClose);
  }

  /** Waits before a retry; ends early, rejecting, when the exchange ends. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.aborted) return reject(new Error('aborted'));
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        reject(new Error('aborted'));
      };
    });
  }

  /** What an error during the exchange means to the client. */
  failure(cause: unknown): Error {
    this.end();
    if (this.gone) return new ClientGone();
    if (this.cutShort) {
      return new GatewayError('provider_error', 503, `the gateway is shutting down: the request to provider ${this.provider} was interrupted`, { provider: this.provider, code: INTERRUPTED_BY_SHUTDOWN, cause });
    }
    if (this.timedOut || cause instanceof HeaderTimeout) {
      return new GatewayError('provider_error', 504, `provider ${this.provider} did not answer in time`, { provider: this.provider, code: 'upstream_timeout', cause });
    }
    return new GatewayError('provider_error', 502, `provider ${this.provider} dropped the connection mid-reply`, { provider: this.provider, code: 'upstream_interrupted', cause });
  }

  /**
   * Reads the whole response body, refusing bodies larger than `limit` bytes: at once when the
   * Content-Length says so, else as soon as the bytes read pass it. Either way the connection is
   * destroyed rather than drained, so no more of the body is read.
   */
  readAll(limit: number): Promise<Buffer> {
    const res = this.res;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const fail = (err: unknown) => {
        res.off('data', onData);
        res.off('end', onEnd);
        reject(err instanceof GatewayError ? err : this.failure(err));
      };
      const tooLarge = () => {
        res.destroy();
        fail(oversizedReply(this.provider, 'reply', limit));
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size <= limit) chunks.push(chunk);
        else tooLarge();
      };
      const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      res.on('error', fail);
      // A destroyed response may close without 'end' or 'error'.
      res.on('close', () => {
        if (!res.complete) fail(new Error('response closed before it ended'));
      });
      if (Number(res.headers['content-length']) > limit) return tooLarge();
      res.on('data', onData);
      res.on('end', onEnd);
    });
  }
}

function isTransportError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && transportCodes.has(code)) || (err as Error).message === 'socket hang up';
}

/**
 * The one place that talks HTTP to providers: a keep-alive connection pool per provider,
 * timeouts, and retries with exponential backoff and jitter for requests that allow them
 * (non-streaming ones) on transport errors and 429/502/503/504, honouring Retry-After.
 * Built on node:http, which adds the least per request of the clients measured (see README).
 */
export class Upstream {
  private readonly targets = new Map<string, Target>();
  private readonly live = new Set<Exchange>();
  /** Per provider configuration with several keys; a re-registered provider is a new object, so a new pool. */
  private readonly pools = new WeakMap<ProviderConfig, KeyPool>();
  private closing = false;

  constructor(private readonly opts: UpstreamOptions) {}

  private target(p: ProviderConfig): Target {
    let t = this.targets.get(p.baseUrl);
    if (!t) {
      const url = new URL(p.baseUrl);
      const secure = url.protocol === 'https:';
      t = {
        client: secure ? https : http,
        agent: new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' }),
        hostname: url.hostname,
        port: Number(url.port) || (secure ? 443 : 80),
        host: url.host,
        basePath: url.pathname.replace(/\/+$/, ''),
      };
      this.targets.set(p.baseUrl, t);
    }
    return t;
  }

  private pool(p: ProviderConfig): KeyPool {
    let pool = this.pools.get(p);
    if (!pool) {
      pool = new KeyPool(p, p.apiKeys!, this.opts.keyRest ?? defaultKeyRest, this.opts.log);
      this.pools.set(p, pool);
    }
    return pool;
  }

  private backoff(attempt: number, retryAfter: string | undefined): number {
    const { initialBackoffMs, maxBackoffMs, factor, jitter } = this.opts.retry;
    const seconds = retryAfter !== undefined ? Number(retryAfter) : NaN;
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, maxBackoffMs);
    const base = Math.min(initialBackoffMs * factor ** attempt, maxBackoffMs);
    return base * (1 + jitter * (Math.random() * 2 - 1));
  }

  /** A Retry-After (seconds) longer than the longest backoff the retry policy allows. */
  private beyondPolicy(retryAfter: string | string[] | undefined): boolean {
    return typeof retryAfter === 'string' && Number(retryAfter) * 1000 > this.opts.retry.maxBackoffMs;
  }

  /** One attempt; with a key pool, key `key`'s credential replaces the one the adapter wrote. */
  private once(t: Target, req: UpstreamRequest, ex: Exchange, pool: KeyPool | null, key: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      // A flat list is written as given: Node validates each header once instead of storing,
      // validating and reading it back (a third of ClientRequest's cost per request).
      const headers: string[] = ['host', t.host];
      if (pool) {
        for (const name in req.headers) headers.push(name, name === pool.header ? pool.values[key]! : req.headers[name]!);
      } else for (const name in req.headers) headers.push(name, req.headers[name]!);
      if (req.body !== undefined) headers.push('content-length', String(Buffer.byteLength(req.body)));
      const r = t.client.request({ hostname: t.hostname, port: t.port, path: t.basePath + req.path, method: req.method, headers, agent: t.agent }, (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      // The whole-exchange timer covers the headers too, unless a shorter header timeout is set.
      const timer = this.opts.headerTimeoutMs < this.opts.timeoutMs ? setTimeout(() => r.destroy(new HeaderTimeout()), this.opts.headerTimeoutMs) : undefined;
      r.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      if (suppressRuntimeRetry) (r as ClientRequest & { _retrying?: boolean })._retrying = true;
      ex.use(r);
      r.end(req.body);
    });
  }

  /**
   * Sends a request and resolves once the response headers arrive; the body is the caller's to
   * consume. The exchange ends when `client` goes away (`ClientGone`), or with `drain` as far as
   * the drain limits once it has, or after HTTP_TIMEOUT (504); a provider that cannot be reached
   * is a 502. A provider with several keys takes them in turn; one it refuses (401, 403, 429)
   * rests, and the request goes again at once with the next key that does not, streams too: the
   * provider did not take the request, and nothing has reached the client. With `failFast`
   * (another model can take the request), a 429 or 503 whose Retry-After asks for longer than
   * RETRY_MAX_BACKOFF is returned at once instead of retried.
   */
  async send(p: ProviderConfig, req: UpstreamRequest, client: ServerResponse | null, retry: boolean, opts: { timeoutMs?: number; drain?: boolean; failFast?: boolean } = {}): Promise<Exchange> {
    if (this.closing) throw new GatewayError('provider_error', 503, 'the gateway is shutting down', { code: 'shutting_down', retryable: true });
    const t = this.target(p);
    const ex = new Exchange(p.name, client, opts.timeoutMs ?? this.opts.timeoutMs, this.live, opts.drain ? this.opts.drain : null);
    const max = retry ? this.opts.retry.maxRetries : 0;
    const pool = p.apiKeys !== undefined && p.apiKeys.length > 1 ? this.pool(p) : null;
    let key = pool ? pool.pick(Date.now()) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.once(t, req, ex, pool, key);
        if (pool) {
          if (keyRefusal(res.statusCode ?? 0)) {
            const now = Date.now();
            const retryAfter = res.headers['retry-after'];
            pool.refused(key, res.statusCode!, typeof retryAfter === 'string' ? retryAfter : undefined, now);
            const next = pool.available(now);
            if (next >= 0) {
              res.resume();
              key = next;
              attempt--;
              continue;
            }
            key = pool.pick(now);
          } else if ((res.statusCode ?? 0) < 400) pool.answered(key);
        }
        if (attempt < max && retryableStatus.has(res.statusCode ?? 0) && !(opts.failFast && this.beyondPolicy(res.headers['retry-after']))) {
          const retryAfter = res.headers['retry-after'];
          res.resume();
          await ex.pause(this.backoff(attempt, typeof retryAfter === 'string' ? retryAfter : undefined));
          continue;
        }
        ex.attach(res);
        return ex;
      } catch (err) {
        if (ex.aborted || err instanceof HeaderTimeout) throw ex.failure(err);
        if (attempt < max && isTransportError(err)) {
          try {
            await ex.pause(this.backoff(attempt, undefined));
          } catch (aborted) {
            throw ex.failure(aborted);
          }
          continue;
        }
        ex.end();
        throw new GatewayError('provider_error', 502, `provider ${p.name} could not be reached`, { provider: p.name, code: 'upstream_unreachable', retryable: true, cause: err });
      }
    }
  }

  /** Exchanges under way, those reading on after their client left included. */
  get inFlight(): number {
    return this.live.size;
  }

  /** Refuses new exchanges and cuts those in flight (shutdown, once in-flight requests had their time). */
  cut(): void {
    this.closing = true;
    for (const ex of this.live) ex.cut();
  }

  close(): void {
    for (const t of this.targets.values()) t.agent.destroy();
  }
}
