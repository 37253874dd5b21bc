import type { IncomingMessage } from 'node:http';
import { GatewayError, invalidRequest } from '../errors.ts';

const tooLarge = (limit: number) =>
  new GatewayError('invalid_request_error', 413, `request body exceeds the ${limit}-byte limit`, {
    code: 'request_too_large',
    headers: { Connection: 'close' },
  });

/** Reads the whole body, refusing (413) as soon as it exceeds `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** Parses a JSON body; an empty body is `undefined`. */
export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw invalidRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
