import type { NativeApi } from '../providers/types.ts';
import { chatToMessage, messagesObserver, messagesResult, messagesToChat } from './messages.ts';
import { MessagesEncoder } from './messages-stream.ts';
import { chatToResponse, responsesObserver, responsesResult, responsesToChat } from './responses.ts';
import { ResponsesEncoder } from './responses-stream.ts';
import type { IngressApi } from './types.ts';

const numberOr = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/**
 * The ingress APIs besides chat completions. Each meets every provider through the internal shape
 * (chat completions), and the providers that serve it natively through a relay.
 */
export const ingressApis: Record<NativeApi, IngressApi> = {
  responses: {
    name: 'responses',
    endpoint: '/v1/responses',
    toChat: responsesToChat,
    maxOutputTokens: (body) => numberOr(body.max_output_tokens),
    fromChat: chatToResponse,
    encoder: (request) => new ResponsesEncoder(request),
    nativeResult: responsesResult,
    nativeStream: responsesObserver,
  },
  messages: {
    name: 'messages',
    endpoint: '/v1/messages',
    toChat: messagesToChat,
    maxOutputTokens: (body) => numberOr(body.max_tokens),
    fromChat: chatToMessage,
    encoder: (request) => new MessagesEncoder(request),
    nativeResult: messagesResult,
    nativeStream: messagesObserver,
  },
};
