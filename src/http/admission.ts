import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Whether the request carries a body (announced by its length or by chunked transfer). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

const jsonType = /^application\/json\s*(?:;|$)/i;

/**
 * Refuses (415) a body that does not say it is JSON. Besides telling a client that sent a form or
 * plain text what went wrong, this keeps a browser from posting to the gateway from another site
 * without asking first: a page may send text/plain, a form or no type at all to any origin without
 * a CORS preflight, never application/json.
 */
export function requireJson(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (type === 'application/json' || (type !== undefined && jsonType.test(type))) return;
  throw new GatewayError('invalid_request_error', 415, `request body must be JSON sent as Content-Type: application/json, got ${type ? JSON.stringify(type) : 'no Content-Type'}`, {
    code: 'unsupported_media_type',
    param: 'Content-Type',
  });
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim().toLowerCase();

/**
 * Refuses (403) a state-changing request that a browser sent from a page of another origin.
 * Without a master key the admin API is open, and any page its user visits could otherwise change
 * budgets. `Sec-Fetch-Site`, which a page cannot set, decides when the browser sends it:
 * same-origin (or none, the user's own navigation) passes, same-site and cross-site do not. This
 * also lets the dashboard through where its no-referrer policy makes the browser send
 * `Origin: null` (the Fetch standard says so; Firefox has done it for same-origin fetches).
 * Without Sec-Fetch-Site, `Origin` must name the host the request was sent to (the Host header, or
 * X-Forwarded-Host behind a proxy that rewrites Host; the scheme is not compared, so a proxy
 * ending TLS is fine). Clients other than browsers (curl, SDKs) send neither header and pass.
 */
export function refuseCrossSite(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return;
    throw crossSite(`Sec-Fetch-Site says ${site}`, 'Sec-Fetch-Site');
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host && (host === first(req.headers.host) || host === first(req.headers['x-forwarded-host']))) return;
  throw crossSite(`Origin ${origin} is not this gateway (${req.headers.host ?? 'no Host header'})`, 'Origin');
}

const crossSite = (why: string, param: string) =>
  new GatewayError('invalid_request_error', 403, `cross-site request refused: ${why}; admin changes are taken only from the gateway's own pages or from clients that send no Origin`, {
    code: 'cross_site_request',
    param,
  });
