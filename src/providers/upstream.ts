import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { RetryPolicy } from '../config.ts';
import { GatewayError } from '../errors.ts';
import type { ProviderConfig, UpstreamRequest } from './types.ts';

export interface UpstreamOptions {
  /** Whole exchange, response body included (HTTP_TIMEOUT). */
  timeoutMs: number;
  /** Until the response headers arrive (HTTP_RESPONSE_HEADER_TIMEOUT). */
  headerTimeoutMs: number;
  retry: RetryPolicy;
}

interface Target {
  client: typeof http | typeof https;
  agent: http.Agent;
  hostname: string;
  port: number;
  basePath: string;
}

const retryableStatus = new Set([429, 502, 503, 504, 529]);
const transportCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

class HeaderTimeout extends Error {}

/** The client went away (its request was aborted): nothing to answer. */
export class ClientGone extends Error {}

/**
 * One request/response with a provider. A single timer covers the whole exchange and is cleared
 * when the response closes (AbortSignal.timeout would leave one pending timer per request behind).
 */
export class Exchange {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  res!: IncomingMessage;

  constructor(
    private readonly provider: string,
    private readonly clientSignal: AbortSignal,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
    if (clientSignal.aborted) this.controller.abort();
    else clientSignal.addEventListener('abort', () => this.controller.abort(), { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  attach(res: IncomingMessage): void {
    this.res = res;
    res.once('close', () => this.end());
  }

  end(): void {
    clearTimeout(this.timer);
  }

  /** What an error during the exchange means to the client. */
  failure(cause: unknown): Error {
    this.end();
    if (this.clientSignal.aborted) return new ClientGone();
    if (this.timedOut || cause instanceof HeaderTimeout) {
      return new GatewayError('provider_error', 504, `provider ${this.provider} did not answer in time`, { provider: this.provider, code: 'upstream_timeout', cause });
    }
    return new GatewayError('provider_error', 502, `provider ${this.provider} dropped the connection mid-reply`, { provider: this.provider, code: 'upstream_interrupted', cause });
  }

  /** Reads the whole response body, refusing bodies larger than `limit` bytes. */
  async readAll(limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of this.res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) {
          this.res.destroy();
          throw new GatewayError('provider_error', 502, `provider ${this.provider} sent a reply larger than ${limit} bytes`, { provider: this.provider, code: 'bad_upstream_response' });
        }
        chunks.push(chunk);
      }
    } catch (err) {
      throw err instanceof GatewayError ? err : this.failure(err);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  }
}

function isTransportError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && transportCodes.has(code)) || (err as Error).message === 'socket hang up';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The one place that talks HTTP to providers: a keep-alive connection pool per provider,
 * timeouts, and retries with exponential backoff and jitter for requests that allow them
 * (non-streaming ones) on transport errors and 429/502/503/504, honouring Retry-After.
 * Built on node:http, which adds the least per request of the clients measured (see README).
 */
export class Upstream {
  private readonly targets = new Map<string, Target>();

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
        basePath: url.pathname.replace(/\/+$/, ''),
      };
      this.targets.set(p.baseUrl, t);
    }
    return t;
  }

  private backoff(attempt: number, retryAfter: string | undefined): number {
    const { initialBackoffMs, maxBackoffMs, factor, jitter } = this.opts.retry;
    const seconds = retryAfter !== undefined ? Number(retryAfter) : NaN;
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, maxBackoffMs);
    const base = Math.min(initialBackoffMs * factor ** attempt, maxBackoffMs);
    return base * (1 + jitter * (Math.random() * 2 - 1));
  }

  private once(t: Target, req: UpstreamRequest, signal: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
      const r = t.client.request(
        { hostname: t.hostname, port: t.port, path: t.basePath + req.path, method: req.method, headers, agent: t.agent, signal },
        (res) => {
          clearTimeout(timer);
          resolve(res);
        },
      );
      const timer = setTimeout(() => r.destroy(new HeaderTimeout()), this.opts.headerTimeoutMs);
      r.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      r.end(req.body);
    });
  }

  /**
   * Sends a request and resolves once the response headers arrive; the body is the caller's to
   * consume. The exchange ends when the client goes away (`ClientGone`) or after HTTP_TIMEOUT
   * (504); a provider that cannot be reached is a 502.
   */
  async send(p: ProviderConfig, req: UpstreamRequest, clientSignal: AbortSignal, retry: boolean): Promise<Exchange> {
    const t = this.target(p);
    const ex = new Exchange(p.name, clientSignal, this.opts.timeoutMs);
    const max = retry ? this.opts.retry.maxRetries : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.once(t, req, ex.signal);
        if (attempt < max && retryableStatus.has(res.statusCode ?? 0)) {
          const retryAfter = res.headers['retry-after'];
          res.resume();
          await sleep(this.backoff(attempt, typeof retryAfter === 'string' ? retryAfter : undefined), ex.signal);
          continue;
        }
        ex.attach(res);
        return ex;
      } catch (err) {
        if (ex.signal.aborted || err instanceof HeaderTimeout) throw ex.failure(err);
        if (attempt < max && isTransportError(err)) {
          try {
            await sleep(this.backoff(attempt, undefined), ex.signal);
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

  close(): void {
    for (const t of this.targets.values()) t.agent.destroy();
  }
}
