import { GatewayError } from '../../errors.ts';
import type { Handler } from '../context.ts';

const notYet: Handler = async () => {
  throw new GatewayError('invalid_request_error', 501, 'this operation is not available yet', { code: 'not_implemented' });
};

export function openaiHandlers(): { createChatCompletion: Handler; createEmbedding: Handler; listModels: Handler } {
  return { createChatCompletion: notYet, createEmbedding: notYet, listModels: notYet };
}
