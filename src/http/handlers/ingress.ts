import { invalidRequest, notFound } from '../../errors.ts';
import { ingressApis } from '../../ingress/apis.ts';
import { estimateInputTokens } from '../../ingress/count.ts';
import { chunksOf, nativeRequest } from '../../ingress/native.ts';
import type { IngressApi, Obj } from '../../ingress/types.ts';
import type { Route } from '../../providers/registry.ts';
import type { ChatContext, ProviderAdapter, StreamTranslator, UpstreamRequest } from '../../providers/types.ts';
import type { Handler, HandlerContext } from '../context.ts';
import type { Proxy, ProxyDeps, RouteCall, StreamWriter, WriterStep } from '../proxy.ts';

/** A relayed stream in the client's own API: events pass on unchanged, their usage is read as they go. */
function nativeWriter(api: IngressApi, adapter: ProviderAdapter, request: Obj, model: string): StreamWriter {
  const observer = api.nativeStream(model);
  const step: WriterStep = { out: null };
  return {
    get id() {
      return observer.id;
    },
    get model() {
      return observer.model;
    },
    event(ev) {
      const seen = observer.event(ev);
      step.usage = seen.usage;
      step.complete = seen.done;
      step.error = seen.error && adapter.error(seen.error.status, seen.error.body);
      return step;
    },
    end: () => '',
    fail: (err) => api.encoder(request).fail(err),
  };
}

/** A provider's chat stream (as its adapter makes it) written out as the client's API's events. */
function translatedWriter(api: IngressApi, translator: StreamTranslator, request: Obj): StreamWriter {
  const encoder = api.encoder(request);
  const step: WriterStep = { out: null };
  return {
    get id() {
      return translator.id;
    },
    get model() {
      return translator.model;
    },
    event(ev) {
      const t = translator.event(ev);
      step.usage = t.usage;
      step.error = t.error;
      let out = '';
      let complete = ev.data === '[DONE]';
      if (!t.error) {
        for (const chunk of chunksOf(t, ev)) {
          if ((chunk.choices as { finish_reason?: unknown }[] | undefined)?.some((c) => c.finish_reason)) complete = true;
          out += encoder.chunk(chunk);
        }
      }
      step.out = out;
      step.complete = complete;
      return step;
    },
    end: (usage) => encoder.end(usage),
    fail: (err) => encoder.fail(err),
  };
}

const nativePaths = { responses: '/responses/input_tokens', messages: '/messages/count_tokens' } as const;

/**
 * `/v1/responses` and `/v1/messages` (with their token counts), and the Responses API's stored
 * response operations. A provider that serves the client's API gets the request relayed; any
 * other gets it translated to chat completions through its adapter, and the reply translated
 * back. Both go through the request path chat completions takes (proxy.call).
 */
export function ingressHandlers(deps: ProxyDeps, proxy: Proxy) {
  const { upstream } = deps;

  function modelCall(api: IngressApi): Handler {
    const defaults: Obj = api.name === 'messages' ? { max_tokens: deps.anthropicDefaultMaxTokens } : {};
    return async (ctx) => {
      const body = ctx.body as Obj;
      const who = deps.attribute(ctx.headers, ctx.caller);
      const r = proxy.route(body, who);
      const stream = body.stream === true;
      let chat: Obj | undefined;
      const build = (r: Route): RouteCall => {
        const { adapter } = r.entry;
        if (adapter.nativeApis.includes(api.name)) {
          const maxTokens = api.maxOutputTokens(body) ?? (defaults.max_tokens as number | undefined);
          return {
            route: r,
            estimateFrom: maxTokens === undefined ? {} : { max_tokens: maxTokens },
            request: () => nativeRequest(adapter, api.name, body, ctx.rawBody, r.model, ctx.headers, defaults),
            writer: () => nativeWriter(api, adapter, body, r.model),
            result: (json) => ({ response: null, ...api.nativeResult(json, r.model) }),
          };
        }
        // Translated once, whichever of the routes needs it first.
        const asChat = (chat ??= api.toChat(body));
        // The client's API carries usage at the end of every stream, so it is always asked for.
        const cctx: ChatContext = { model: r.model, stream, includeUsage: true, defaultMaxTokens: deps.anthropicDefaultMaxTokens };
        return {
          route: r,
          estimateFrom: asChat,
          request: () => adapter.chatRequest(asChat, cctx),
          writer: () => translatedWriter(api, adapter.chatStream(cctx), body),
          result: (json) => {
            const result = adapter.chatResponse(json, cctx);
            return { ...result, response: api.fromChat(result.response ?? (json as Obj), result.usage, body) };
          },
        };
      };
      await proxy.call(ctx, { ...build(r), who, endpoint: api.endpoint, stream, requested: body.model as string, reroute: build });
    };
  }

  /** Sends a request the provider answers for itself (no tokens used) and its reply back unchanged. */
  async function forward(ctx: HandlerContext, r: Route, req: UpstreamRequest, endpoint: string, who = deps.attribute(ctx.headers, ctx.caller)): Promise<void> {
    const p = proxy.begin(r, endpoint, false, ctx.requestId, who, ctx.audit);
    try {
      // Counting, reading, cancelling and deleting are all safe to repeat.
      const ex = await upstream.send(r.entry.config, req, ctx.res, true);
      if (proxy.refused(ex)) await proxy.refuse(p, r, ex);
      proxy.reply(ctx, p, null, await ex.readAll(deps.replySizeLimit));
    } catch (err) {
      await proxy.failed(p, err);
    } finally {
      proxy.end(p);
    }
  }

  /** Token counts: the provider's own count where it has the API, else the gateway's estimate. */
  function countTokens(api: IngressApi, endpoint: string, shape: (tokens: number) => Obj): Handler {
    return async (ctx) => {
      const body = ctx.body as Obj;
      const who = deps.attribute(ctx.headers, ctx.caller);
      const r = proxy.route(body, who);
      const { adapter } = r.entry;
      if (!adapter.nativeApis.includes(api.name)) return { body: shape(estimateInputTokens(api.toChat(body))) };
      const req = nativeRequest(adapter, api.name, body, ctx.rawBody, r.model, ctx.headers);
      await forward(ctx, r, { ...req, path: nativePaths[api.name] }, endpoint, who);
    };
  }

  /** The provider holding stored responses: the one named by `?provider=`, else the first serving the Responses API. */
  function storeOf(name: unknown): Route {
    const named = typeof name === 'string' && name !== '';
    const entry = named ? deps.registry.entries.find((e) => e.config.name === name) : deps.registry.entries.find((e) => e.adapter.nativeApis.includes('responses'));
    if (named && !entry) throw notFound(`unknown provider: ${String(name)}`, 'provider_not_found', 'provider');
    if (!entry?.adapter.nativeApis.includes('responses')) {
      const who = entry ? `provider ${entry.config.name} does not serve` : 'no configured provider serves';
      throw invalidRequest(`${who} the Responses API natively, so it holds no stored responses (the gateway keeps none it made by translation)`, 'provider', 'unsupported_endpoint');
    }
    return { entry, model: '' };
  }

  /** GET/DELETE /v1/responses/{id}, POST …/cancel, GET …/input_items: relayed to the provider that stored the response. */
  function stored(method: UpstreamRequest['method'], suffix: string): Handler {
    return async (ctx) => {
      const r = storeOf(ctx.query.provider);
      const url = new URL(ctx.req.url ?? '/', 'http://gateway');
      url.searchParams.delete('provider');
      const id = encodeURIComponent(decodeURIComponent(url.pathname.split('/')[3] ?? ''));
      const headers = { ...r.entry.adapter.authHeaders };
      await forward(ctx, r, { method, path: `/responses/${id}${suffix}${url.search}`, headers }, `/v1/responses/{id}${suffix}`);
    };
  }

  return {
    createResponse: modelCall(ingressApis.responses),
    createMessage: modelCall(ingressApis.messages),
    countResponseInputTokens: countTokens(ingressApis.responses, '/v1/responses/input_tokens', (tokens) => ({ object: 'response.input_tokens', input_tokens: tokens })),
    countMessageTokens: countTokens(ingressApis.messages, '/v1/messages/count_tokens', (tokens) => ({ input_tokens: tokens })),
    getResponse: stored('GET', ''),
    deleteResponse: stored('DELETE', ''),
    cancelResponse: stored('POST', '/cancel'),
    listResponseInputItems: stored('GET', '/input_items'),
  } satisfies Record<string, Handler>;
}
