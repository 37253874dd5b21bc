/** Chat requests of realistic size: a ~1.5 KB system prompt and a ~3 KB user turn (~1,100 tokens). */

const system =
  'You are a careful assistant for an engineering team. Answer concisely, cite the files you rely on, ' +
  'and say when you are unsure. '.repeat(12);
const user =
  'Here is the log excerpt from last night. Summarise what failed, in which order, and what to check first. ' +
  '2026-03-14T02:11:07Z worker-3 retrying job 81723 after timeout talking to the billing service. '.repeat(24);

/** The instant model and the one that answers after 20 ms (chunks 1 ms apart when streaming). */
export const INSTANT = 'gpt-4o-mini';
export const SLOW = 'gpt-4o-mini-20ms';

export function chatBody(model: string, stream: boolean): string {
  return JSON.stringify({
    model,
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ],
    temperature: 0.2,
    max_tokens: 256,
    // Every target gets the same stream, usage chunk included (gomodel-ts would add it anyway).
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

/** The same conversation as a streamed Responses API request. */
export function responsesBody(model: string): string {
  return JSON.stringify({ model, instructions: system, input: user, temperature: 0.2, max_output_tokens: 256, stream: true });
}

/** The same conversation as a streamed Anthropic Messages request. */
export function messagesBody(model: string): string {
  return JSON.stringify({ model, system, messages: [{ role: 'user', content: user }], temperature: 0.2, max_tokens: 256, stream: true });
}
