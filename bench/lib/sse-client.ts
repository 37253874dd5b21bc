import { Agent, request } from 'node:http';

export interface StreamTiming {
  /** From sending the request to the first chunk with non-empty `delta.content`. */
  ttftMs: number;
  /** From sending the request to the end of the response. */
  totalMs: number;
  /** Arrival time of every content-bearing event, relative to the request. */
  contentAtMs: number[];
  /** Socket reads that carried data: a buffering proxy delivers the stream in few of them. */
  reads: number;
}

const contentDelta = /"delta":\{[^}]*"content":"[^"]/;

/**
 * Streams one chat completion and timestamps its events as they arrive. A plain node:http client
 * with a keep-alive agent, so the client's own cost is small and the same for every target.
 */
export function timeStream(url: string, headers: Record<string, string>, body: string, agent: Agent): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const started = performance.now();
    const contentAtMs: number[] = [];
    let reads = 0;
    let pending = '';
    const req = request(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`stream answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = performance.now() - started;
          reads++;
          const events = (pending + chunk).split('\n\n');
          pending = events.pop()!;
          for (const ev of events) if (contentDelta.test(ev)) contentAtMs.push(at);
        });
        res.on('end', () => {
          const totalMs = performance.now() - started;
          if (contentAtMs.length === 0) reject(new Error('stream carried no content'));
          else resolve({ ttftMs: contentAtMs[0]!, totalMs, contentAtMs, reads });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
