/**
 * A local provider for benchmarks and manual trials: /v1/models, /v1/chat/completions (JSON, or
 * SSE with `stream: true`), /v1/embeddings, and the Responses (/v1/responses) and Anthropic
 * Messages (/v1/messages) APIs, streaming their typed events, so a gateway can be timed relaying
 * each API natively and translating it. Payloads of realistic size and usage (cached tokens
 * included). A model named `…-<N>ms` answers after N ms (and spaces its stream chunks N/20 ms
 * apart); any other model answers at once.
 *
 *   PORT=9999 npx tsx bench/mock-upstream.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const models = ['gpt-4o-mini', 'gpt-4o-mini-20ms', 'text-embedding-3-small'];
const words = 'The quick brown fox jumps over the lazy dog while the gateway records every token it sees'.split(' ');
const STREAM_CHUNKS = 20;

const usage = {
  prompt_tokens: 1117,
  completion_tokens: 46,
  total_tokens: 1163,
  prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

const delayOf = (model: string) => Number(/-(\d+)ms$/.exec(model)?.[1] ?? 0);
const sleep = (ms: number) => new Promise((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));
let seq = 0;

function completion(model: string) {
  return JSON.stringify({
    id: `chatcmpl-mock${++seq}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: words.join(' ').repeat(3), refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage,
    service_tier: 'default',
    system_fingerprint: 'fp_mock',
  });
}

async function stream(res: ServerResponse, model: string, includeUsage: boolean) {
  const id = `chatcmpl-mock${++seq}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: object, finish: string | null, extra: object = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(chunk({ role: 'assistant', content: '', refusal: null }, null));
  const gap = delayOf(model) / STREAM_CHUNKS;
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    await sleep(gap);
    res.write(chunk({ content: `${words[i % words.length]} ` }, null));
  }
  res.write(chunk({}, 'stop'));
  if (includeUsage) res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

/** The same 20 words as a Responses API stream: created, item and part added, deltas, dones, completed with usage. */
async function responsesStream(res: ServerResponse, model: string) {
  const id = `resp_mock${++seq}`;
  const item = `msg_mock${seq}`;
  let n = 0;
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...data })}\n\n`;
  const response = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), status: 'in_progress', model, output: [] as object[], usage: null as object | null };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(ev('response.created', { response }) + ev('response.in_progress', { response }));
  res.write(ev('response.output_item.added', { output_index: 0, item: { id: item, type: 'message', status: 'in_progress', role: 'assistant', content: [] } }));
  res.write(ev('response.content_part.added', { item_id: item, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
  const gap = delayOf(model) / STREAM_CHUNKS;
  let text = '';
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    await sleep(gap);
    const delta = `${words[i % words.length]} `;
    text += delta;
    res.write(ev('response.output_text.delta', { item_id: item, output_index: 0, content_index: 0, delta, logprobs: [] }));
  }
  const part = { type: 'output_text', text, annotations: [] };
  res.write(ev('response.output_text.done', { item_id: item, output_index: 0, content_index: 0, text, logprobs: [] }) + ev('response.content_part.done', { item_id: item, output_index: 0, content_index: 0, part }));
  const done = { id: item, type: 'message', status: 'completed', role: 'assistant', content: [part] };
  res.write(ev('response.output_item.done', { output_index: 0, item: done }));
  const responsesUsage = { input_tokens: usage.prompt_tokens, input_tokens_details: { cached_tokens: 1024 }, output_tokens: usage.completion_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage.total_tokens };
  res.end(ev('response.completed', { response: { ...response, status: 'completed', output: [done], usage: responsesUsage } }));
}

/** The same 20 words as an Anthropic Messages stream, usage in message_start and message_delta. */
async function messagesStream(res: ServerResponse, model: string) {
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const start = { id: `msg_mock${++seq}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 93, cache_read_input_tokens: 1024, cache_creation_input_tokens: 0, output_tokens: 1 } };
  res.write(ev('message_start', { message: start }) + ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  const gap = delayOf(model) / STREAM_CHUNKS;
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    await sleep(gap);
    res.write(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: `${words[i % words.length]} ` } }));
  }
  res.write(ev('content_block_stop', { index: 0 }) + ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.completion_tokens } }));
  res.end(ev('message_stop', {}));
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
}

const server = createServer(async (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/v1/models') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1721172741, owned_by: 'mock' })) }));
    return;
  }
  if (req.method === 'POST' && path === '/v1/chat/completions') {
    const b = await body(req);
    const model = String(b.model ?? 'gpt-4o-mini');
    if (b.stream === true) return stream(res, model, (b.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true);
    await sleep(delayOf(model));
    const text = completion(model);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (req.method === 'POST' && (path === '/v1/responses' || path === '/v1/messages')) {
    const b = await body(req);
    const model = String(b.model ?? 'gpt-4o-mini');
    if (b.stream === true) return path === '/v1/responses' ? responsesStream(res, model) : messagesStream(res, model);
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'the mock streams these APIs only', type: 'invalid_request_error' } }));
    return;
  }
  if (req.method === 'POST' && path === '/v1/embeddings') {
    const b = await body(req);
    const inputs = Array.isArray(b.input) ? b.input : [b.input];
    const text = JSON.stringify({
      object: 'list',
      data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: Array.from({ length: 256 }, (_, i) => Math.sin(i + index)) })),
      model: b.model,
      usage: { prompt_tokens: 8 * inputs.length, total_tokens: 8 * inputs.length },
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error', param: null, code: null } }));
});

server.keepAliveTimeout = 65_000;
const port = Number(process.env.PORT ?? process.argv[2] ?? 9999);
server.listen(port, '127.0.0.1', () => console.log(`mock upstream on http://127.0.0.1:${port}/v1`));
