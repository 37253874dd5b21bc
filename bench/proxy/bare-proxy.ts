/**
 * The floor for any Node.js gateway: a pass-through proxy on node:http that pipes request and
 * response bodies both ways over a keep-alive pool, and does nothing else.
 *
 *   PORT=8101 UPSTREAM_URL=http://127.0.0.1:9999 node --import tsx bench/proxy/bare-proxy.ts
 */
import http from 'node:http';

const upstream = new URL(process.env.UPSTREAM_URL ?? 'http://127.0.0.1:9999');
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });

http
  .createServer((req, res) => {
    const headers = { ...req.headers, host: upstream.host };
    delete headers.connection;
    const out = http.request(
      { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  })
  .listen(Number(process.env.PORT ?? 8101), '127.0.0.1');
