import { Agent, request } from 'node:http';

export interface StreamTiming {
  /** From sending the request to the first event carrying text (chat `delta.content`, Responses `output_text.delta`, Anthropic `text_delta`). */
  ttftMs: number;
  /** From sending the request to the end of the response. */
  totalMs: number;
  /** Arrival time of every content-bearing event, relative to the request. */
  contentAtMs: number[];
  /** Socket reads that carried data: a buffering proxy delivers the stream in few of them. */
  reads: number;
}

/** An event that carries text, in any of the three streaming APIs. */
const contentDelta = /"delta":\{[^}]*"content":"[^"]|"type":"response\.output_text\.delta"|"type":"text_delta"/;

/**
 * Streams one reply (chat completions, Responses or Messages) and timestamps its events as they arrive. A plain node:http client
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

/** Streams sent to one target in a row; the first of a block is not timed. */
export const STREAM_BLOCK = 10;

/**
 * A block of streams to one target, one after another, timing all but the first: it follows
 * other targets' work, which has evicted this target's code and data from the CPU's caches, where
 * one stream after another to the same target finds them warm (timed one by one in turn, first
 * tokens came 0.6-1.3 ms later than in blocks, the gateway's, with the most code, the most).
 */
export async function timeStreamBlock(url: string, headers: Record<string, string>, body: string, agent: Agent): Promise<{ timed: StreamTiming[]; failed: number }> {
  const timed: StreamTiming[] = [];
  let failed = 0;
  for (let k = 0; k < STREAM_BLOCK; k++) {
    // A stream that fails is counted, and reported as an error of its target, not a crash of the run.
    const t = await timeStream(url, headers, body, agent).catch((err: unknown) => {
      console.warn(`  ${url}: ${(err as Error).message}`);
      failed++;
      return null;
    });
    if (t && k > 0) timed.push(t);
  }
  return { timed, failed };
}

/**
 * Streams completed per second with `connections` clients each streaming one after another for
 * `seconds`: the streaming counterpart of wrk's requests per second.
 */
export async function streamRate(url: string, headers: Record<string, string>, body: string, connections: number, seconds: number): Promise<{ streams: number; perSecond: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const started = performance.now();
  const until = started + seconds * 1000;
  let streams = 0;
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          await timeStream(url, headers, body, agent);
          streams++;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { streams, perSecond: streams / ((performance.now() - started) / 1000) };
}
