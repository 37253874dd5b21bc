import type { IncomingMessage } from 'node:http';
import { GatewayError, invalidRequest } from '../errors.ts';
import { ClientGone } from '../providers/upstream.ts';

const tooLarge = (limit: number) =>
  new GatewayError('invalid_request_error', 413, `request body exceeds the ${limit}-byte limit`, {
    code: 'request_too_large',
    headers: { Connection: 'close' },
  });

/** Reads the whole body, refusing (413) as soon as it exceeds `limit` bytes; `ClientGone` when the client leaves first. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length']) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Stop collecting; the 413 goes out with Connection: close.
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      reject(tooLarge(limit));
    };
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    req.on('data', onData);
    // `on`, not `once`: 'end' fires once and a second error finds the promise settled.
    req.on('end', onEnd);
    // The only errors a request stream has are its connection's: the client reset or closed it.
    req.on('error', () => reject(new ClientGone('the client left before the end of its request body')));
  });
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
