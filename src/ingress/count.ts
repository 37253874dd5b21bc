import type { Obj } from './types.ts';
import { isObj } from './usage.ts';

/** Tokens a request's text comes to, estimated as the original gateway does: about four characters a token. */
const CHARS_PER_TOKEN = 4;
/** What an image costs in input tokens, about (a 1024×1024 image at most providers' rates). */
const IMAGE_TOKENS = 1000;

function charsOf(value: unknown): { chars: number; images: number } {
  let chars = 0;
  let images = 0;
  const walk = (v: unknown): void => {
    if (typeof v === 'string') chars += v.length;
    else if (Array.isArray(v)) v.forEach(walk);
    else if (isObj(v)) {
      if (v.type === 'image_url') images++;
      else for (const k in v) if (k !== 'type' && k !== 'role' && k !== 'id' && k !== 'tool_call_id') walk(v[k]);
    }
  };
  walk(value);
  return { chars, images };
}

/**
 * The input tokens of a chat completions request, estimated from its messages and tool
 * definitions: for count-tokens endpoints whose provider has no counting API of its own.
 */
export function estimateInputTokens(chat: Obj): number {
  const { chars, images } = charsOf([chat.messages, chat.tools]);
  return Math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS;
}
