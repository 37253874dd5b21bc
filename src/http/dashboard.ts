import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ExtraRoute } from './server.ts';

const PREFIX = '/admin/dashboard';

/** Where `npm run build` puts the bundled dashboard: reached from src/http/ and from the compiled dist/src/http/. */
const packageRoot = new URL('../../', import.meta.url);
const builtDashboardDir = fileURLToPath(new URL(packageRoot.pathname.endsWith('/dist/') ? 'dashboard/' : 'dist/dashboard/', packageRoot));

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** esbuild names bundles `<name>-<content hash>.<ext>`; such a name never changes meaning. */
const hashedName = /-[A-Z0-9]{8}\.(js|css)$/;

// The page holds the master key: allow nothing but our own scripts, and no framing.
const pageHeaders = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

interface Asset {
  body: Buffer;
  headers: Record<string, string>;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = contentTypes[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    const headers: Record<string, string> = {
      'Content-Type': type,
      'Content-Length': String(body.length),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': hashedName.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...(name === 'index.html' ? pageHeaders : {}),
    };
    assets.set(name === 'index.html' ? `${PREFIX}/` : `${PREFIX}/${name}`, { body, headers });
  }
  assets.set(PREFIX, assets.get(`${PREFIX}/`)!);
  return assets;
}

/**
 * Serves the dashboard page at `/admin/dashboard` and its bundled assets under it, without auth
 * (the page asks for the key). Files are read once, here; a request can only name one of them, so
 * no path ever reaches the file system.
 */
export function dashboardRoute(log: Logger, dir: string = builtDashboardDir): ExtraRoute {
  const built = existsSync(join(dir, 'index.html'));
  if (!built) log.warn({ dir }, 'the admin dashboard is not built: run `npm run build` (or set ADMIN_UI_ENABLED=false); /admin/dashboard answers 404 until then');
  const assets = built ? loadAssets(dir) : new Map<string, Asset>();

  return (req, res, path) => {
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
    const asset = assets.get(path);
    if (!asset) throw notFound(built ? `no dashboard asset at ${path}` : 'the dashboard is not built', 'route_not_found');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new GatewayError('invalid_request_error', 405, `method ${req.method} is not allowed on ${path}`, {
        code: 'method_not_allowed',
        headers: { Allow: 'GET, HEAD' },
      });
    }
    res.writeHead(200, asset.headers);
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}
