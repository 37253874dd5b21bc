import { request, type Agent } from 'node:http';

/** GETs a URL and resolves with the time to the end of the body, in ms; non-2xx rejects. */
export function timedGet(url: string, headers: Record<string, string>, agent: Agent): Promise<{ ms: number; body: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - started;
        const body = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`GET ${url} answered ${res.statusCode}: ${body.slice(0, 300)}`));
        else resolve({ ms, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
