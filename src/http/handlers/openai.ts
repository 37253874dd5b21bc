import { invalidRequest } from '../../errors.ts';
import type { ChatContext, StreamTranslator } from '../../providers/types.ts';
import type { Handler } from '../context.ts';
import type { Route } from '../../providers/registry.ts';
import type { Proxy, ProxyDeps, RouteCall, StreamWriter, WriterStep } from '../proxy.ts';
import { errorBody } from '../respond.ts';

const finishReason = /"finish_reason"\s*:\s*"/;
const clientLeft = 'client disconnected before the reply; usage read from it';

/**
 * The official SDKs ask for base64 embeddings by default (little-endian float32). Providers whose
 * replies the gateway translates return float arrays, so they are encoded here.
 */
function toBase64Embeddings(response: Record<string, unknown>): Record<string, unknown> {
  const data = (response.data as { embedding: unknown }[]).map((d) => {
    if (!Array.isArray(d.embedding)) return d;
    const floats = Float32Array.from(d.embedding as number[]);
    return { ...d, embedding: Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64') };
  });
  return { ...response, data };
}

/**
 * A chat completions stream as chat completions: OpenAI-compatible events pass through unchanged,
 * Anthropic and Gemini events become the chunks their adapter makes; `[DONE]` ends it.
 */
export function chatWriter(translator: StreamTranslator): StreamWriter {
  let sawDone = false;
  // One step object for every event: the relay reads it before asking for the next.
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
      if (t.chunks === 'passthrough') {
        step.out = null;
        step.last = ev.data === '[DONE]';
        if (step.last) sawDone = true;
        step.complete = step.last || finishReason.test(ev.data);
        return step;
      }
      let out = '';
      let complete = false;
      for (const c of t.chunks) {
        if ((c.choices as { finish_reason?: unknown }[] | undefined)?.some((ch) => ch.finish_reason)) complete = true;
        out += `data: ${JSON.stringify(c)}\n\n`;
      }
      step.out = out;
      step.last = false;
      step.complete = complete;
      return step;
    },
    end: () => (sawDone ? '' : 'data: [DONE]\n\n'),
    fail: (err) => `data: ${JSON.stringify(errorBody(err, 'openai'))}\n\n`,
  };
}

export function openaiHandlers(deps: ProxyDeps, proxy: Proxy): { createChatCompletion: Handler; createEmbedding: Handler; listModels: Handler } {
  const { registry, upstream } = deps;

  const createChatCompletion: Handler = async (ctx) => {
    const body = ctx.body as Record<string, unknown>;
    const who = deps.attribute(ctx.headers, ctx.caller);
    const r = proxy.route(body, who);
    const stream = body.stream === true;
    // Only the first route may get the client's bytes as they are: adapters rewrite the body in place.
    const build = (r: Route, raw?: Buffer): RouteCall => {
      const cctx: ChatContext = { model: r.model, stream, includeUsage: deps.includeUsage, defaultMaxTokens: deps.anthropicDefaultMaxTokens, raw };
      const { adapter } = r.entry;
      return {
        route: r,
        estimateFrom: body,
        request: () => adapter.chatRequest(body, cctx),
        writer: () => chatWriter(adapter.chatStream(cctx)),
        result: (json) => adapter.chatResponse(json, cctx),
      };
    };
    const requested = body.model as string;
    await proxy.call(ctx, { ...build(r, ctx.rawBody), who, endpoint: '/v1/chat/completions', stream, requested, reroute: (r) => build(r) });
  };

  const createEmbedding: Handler = async (ctx) => {
    const body = ctx.body as Record<string, unknown>;
    const who = deps.attribute(ctx.headers, ctx.caller);
    const r = proxy.route(body, who);
    const { adapter, config } = r.entry;
    if (!adapter.embeddingsRequest || !adapter.embeddingsResponse) {
      throw invalidRequest(`provider ${config.name} (${config.type}) has no embeddings API`, 'model', 'unsupported_endpoint');
    }
    // Read before the adapter builds the provider request from the body.
    const encoding = body.encoding_format;
    const p = proxy.begin(r, '/v1/embeddings', false, ctx.requestId, who, ctx.audit);
    try {
      const admitted = proxy.admit(who);
      p.admission = admitted instanceof Promise ? await admitted : admitted;
      if (deps.cache && (await proxy.fromCache(ctx, p, body, false))) return;
      // Embeddings produce no output tokens: the worst case is the input alone.
      const reserved = proxy.reserve(who, r, { ...body, max_tokens: 0 }, ctx.rawBody.length);
      const reservation = (p.reservation = reserved instanceof Promise ? await reserved : reserved);
      p.billable = true;
      const ex = await upstream.send(config, adapter.embeddingsRequest(body, r.model), ctx.res, true, { drain: reservation !== null });
      if (proxy.refused(ex)) await proxy.refuse(p, r, ex);
      const raw = await ex.readAll(deps.replySizeLimit);
      const result = adapter.embeddingsResponse(proxy.parseReply(ex, raw, config.name), r.model);
      p.settled = true;
      await proxy.record({
        requestId: ctx.requestId,
        providerId: '',
        model: result.model || r.model,
        routedModel: r.model,
        requestedModel: r.requested,
        provider: config,
        endpoint: '/v1/embeddings',
        who,
        usage: result.usage,
        caveat: result.usage ? (ex.clientGone ? clientLeft : undefined) : 'provider reports no token counts for embeddings',
        reservation,
        admission: p.admission,
        audit: p.audit,
      });
      if (ex.clientGone) p.status = 499;
      else {
        const sent = proxy.reply(ctx, p, result.response && encoding === 'base64' ? toBase64Embeddings(result.response) : result.response, raw);
        if (p.cache) proxy.keep(p, typeof sent === 'string' ? Buffer.from(sent) : sent, false, result.model || r.model, '', result.usage);
      }
    } catch (err) {
      await proxy.failed(p, err);
    } finally {
      proxy.end(p);
    }
  };

  /** The provider models and the virtual models the caller may use: access policies hide what they close to it. */
  const listModels: Handler = async (ctx) => {
    const { userPath } = deps.attribute(ctx.headers, ctx.caller);
    const { virtual } = deps;
    const virtuals = virtual.listed(userPath).map((v) => ({ id: v.id, object: 'model' as const, created: v.created, owned_by: v.owner }));
    const models = registry.list().filter((m) => virtual.allows(m.owned_by, m.id.slice(m.owned_by.length + 1), userPath));
    return { body: { object: 'list', data: [...virtuals, ...models] } };
  };

  return { createChatCompletion, createEmbedding, listModels };
}
