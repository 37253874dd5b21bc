import type { IncomingMessage, ServerResponse } from 'node:http';
import { notFound } from '../../errors.ts';
import { droppedReplyHeaders, PassthroughUsage, passthroughRequest, type PassthroughMethod } from '../../ingress/passthrough.ts';
import type { Route } from '../../providers/registry.ts';
import type { Redactor } from '../../redact.ts';
import { SseSplitter } from '../../providers/sse.ts';
import { ClientGone, type Exchange } from '../../providers/upstream.ts';
import type { Handler, HandlerContext } from '../context.ts';
import type { Proxy, ProxyDeps } from '../proxy.ts';

/** JSON replies up to this size are read for usage as they pass; larger ones go through unread. */
const USAGE_READ_LIMIT = 8 * 1024 * 1024;
/** Largest provider error body passed back. */
const ERROR_LIMIT = 1024 * 1024;
const passthroughPath = /^\/p\/([^/?]+)\/([^?]*)(\?.*)?$/;

/** Replays of these cannot do anything twice, so they may be retried (as the original does). */
const replaySafe = (method: string, req: IncomingMessage) => method === 'GET' || method === 'PUT' || method === 'DELETE' || req.headers['idempotency-key'] !== undefined;

/** Streams the provider's reply to the client as it comes, feeding it to `watch` for usage. */
function pipeReply(ex: Exchange, res: ServerResponse, watch: PassthroughUsage): Promise<void> {
  const up = ex.res;
  const sse = String(up.headers['content-type'] ?? '').includes('text/event-stream');
  // An event larger than this goes on unread, and the splitter with it: the reply is the provider's.
  let splitter = sse ? new SseSplitter(USAGE_READ_LIMIT) : null;
  const held: Buffer[] = [];
  let size = 0;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      up.off('data', onData);
      if (err === undefined) {
        if (!sse && size <= USAGE_READ_LIMIT) watch.body(held.length === 1 ? held[0]! : Buffer.concat(held, size));
        return resolve();
      }
      up.destroy();
      reject(ex.failure(err));
    };
    const onData = (chunk: Buffer) => {
      if (splitter) {
        const pushed = splitter.push(chunk);
        if (pushed) for (const ev of pushed.events) watch.event(ev);
        else splitter = null;
      } else if (!sse && (size += chunk.length) <= USAGE_READ_LIMIT) held.push(chunk);
      // Once the client is gone (a budgeted reply is read on for its usage), the reply is only read.
      if (!res.destroyed && !res.write(chunk)) {
        up.pause();
        res.once('drain', () => up.resume());
      }
    };
    up.on('data', onData);
    up.on('end', () => finish());
    up.on('error', finish);
    up.on('close', () => finish(up.complete ? undefined : new Error('reply closed before it ended')));
  });
}

/**
 * `/p/{provider}/{endpoint}`: the request goes to the provider's base URL with the gateway's
 * credentials, and the provider's status, headers and body come back untouched, streamed as they
 * arrive; error replies come back scrubbed of secrets. One usage row for each reply below 400,
 * with the usage it carries in a shape the gateway knows, or none and a caveat; a JSON body's
 * `model` is what budgets reserve against and access policies are checked for.
 */
export function passthroughHandlers(deps: ProxyDeps, proxy: Proxy, ownHeaders: ReadonlySet<string>, redactor: Redactor) {
  function handler(method: PassthroughMethod): Handler {
    return async (ctx: HandlerContext) => {
      const m = passthroughPath.exec(ctx.req.url ?? '');
      if (!m) throw notFound('a passthrough path is /p/{provider}/{endpoint}', 'route_not_found');
      const name = decodeURIComponent(m[1]!);
      const entry = deps.registry.entries.find((e) => e.config.name === name) ?? deps.registry.entries.find((e) => e.config.type === name);
      if (!entry) throw notFound(`unknown provider: ${name}`, 'provider_not_found', 'provider');
      const req = passthroughRequest(entry.adapter, method, m[2]!, m[3] ?? '', ctx.headers, ctx.rawBody, ownHeaders);
      let body: Record<string, unknown> = {};
      if (ctx.rawBody.length && String(ctx.headers['content-type'] ?? '').includes('json')) {
        try {
          const parsed: unknown = JSON.parse(ctx.rawBody.toString('utf8'));
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
        } catch {
          // Not JSON after all: the provider will say so.
        }
      }
      const model = typeof body.model === 'string' ? body.model : '';
      const r: Route = { entry, model };
      const endpoint = `/p/${m[1]}/${m[2]}`;
      const who = deps.attribute(ctx.headers, ctx.caller);
      // Access policies hold here too: the body's model if it names one, else the provider's and the global policy.
      deps.virtual.authorize(r, model ? `${name}/${model}` : `${name}/`, who.userPath);
      const p = proxy.begin(r, endpoint, body.stream === true, ctx.requestId, who, ctx.audit);
      const watch = new PassthroughUsage(entry.adapter);
      const row = (caveat: string | undefined) => {
        p.settled = true;
        return proxy.record({
          requestId: ctx.requestId,
          providerId: watch.id,
          model: watch.model || model,
          requestedModel: model || undefined,
          provider: entry.config,
          endpoint,
          who,
          usage: watch.usage,
          caveat: watch.usage ? caveat : (caveat ?? 'passthrough reply carries no usage the gateway reads'),
          reservation: p.reservation,
          admission: p.admission,
          audit: p.audit,
        });
      };
      try {
        const admitted = proxy.admit(who);
        p.admission = admitted instanceof Promise ? await admitted : admitted;
        const reserved = model ? proxy.reserve(who, r, body, ctx.rawBody.length) : null;
        p.reservation = reserved instanceof Promise ? await reserved : reserved;
        p.billable = true;
        // A budgeted request's reply is read on if its client leaves: the provider bills it anyway.
        const ex = await deps.upstream.send(entry.config, req, ctx.res, replaySafe(method, ctx.req), { drain: p.reservation !== null });
        const status = ex.res.statusCode ?? 502;
        const headers: string[] = ['X-Request-ID', ctx.requestId];
        const raw = ex.res.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) if (!droppedReplyHeaders.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
        if (status >= 400) {
          // An error reply is the provider's words about the gateway's request, and may quote its
          // credential: it goes back whole but scrubbed, as every provider error does.
          p.billable = false;
          p.status = status;
          const text = redactor.scrub((await ex.readAll(ERROR_LIMIT)).toString('utf8'));
          ctx.res.writeHead(status, [...headers, 'Content-Length', String(Buffer.byteLength(text))]);
          return void ctx.res.end(text);
        }
        ctx.res.writeHead(status, headers);
        await pipeReply(ex, ctx.res, watch);
        p.status = status;
        // The row is journaled before the reply ends.
        await row(ex.clientGone ? 'client disconnected before the end of the reply; usage read from the rest of it' : undefined);
        ctx.res.end();
      } catch (err) {
        // Once the provider's status went out, a failure can only cut the reply short; what it
        // said of its usage by then is recorded.
        if (ctx.res.headersSent) {
          ctx.res.destroy();
          p.status = err instanceof ClientGone ? 499 : 502;
          return void (await row(err instanceof ClientGone ? 'client disconnected before the end of the reply' : 'reply broke off before its end'));
        }
        await proxy.failed(p, err);
      } finally {
        proxy.end(p);
      }
    };
  }

  return {
    passthroughGet: handler('GET'),
    passthroughPost: handler('POST'),
    passthroughPut: handler('PUT'),
    passthroughPatch: handler('PATCH'),
    passthroughDelete: handler('DELETE'),
  } satisfies Record<string, Handler>;
}
