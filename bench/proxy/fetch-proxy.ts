/**
 * A naive proxy on the global fetch (undici) that buffers request and response bodies: what a
 * gateway written in the obvious way does. Measured beside the node:http floor to show what the
 * client costs per request, and that buffering turns a stream into one late burst.
 *
 *   PORT=8102 UPSTREAM_URL=http://127.0.0.1:9999 node --import tsx bench/proxy/fetch-proxy.ts
 */
import http from 'node:http';

const upstream = (process.env.UPSTREAM_URL ?? 'http://127.0.0.1:9999').replace(/\/+$/, '');

async function readAll(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

http
  .createServer(async (req, res) => {
    try {
      const body = await readAll(req);
      const reply = await fetch(upstream + req.url, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json', authorization: req.headers.authorization ?? '' },
        body: body || undefined,
      });
      const payload = Buffer.from(await reply.arrayBuffer());
      res.writeHead(reply.status, { 'content-type': reply.headers.get('content-type') ?? 'application/json', 'content-length': payload.length });
      res.end(payload);
    } catch {
      res.writeHead(502);
      res.end();
    }
  })
  .listen(Number(process.env.PORT ?? 8102), '127.0.0.1');
