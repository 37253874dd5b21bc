import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { dashboardRoute } from '../../src/http/dashboard.ts';
import type { Logger } from '../../src/log.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

/** A request with the path exactly as given: fetch would normalise `..` away before sending. */
function rawGet(base: string, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard route', () => {
  let gw: TestGateway;
  let page: string;
  beforeAll(async () => {
    gw = await startTestGateway({ GOMODEL_MASTER_KEY: 'master' });
    page = await (await realFetch(`${gw.url}/admin/dashboard`)).text();
  });
  afterAll(() => gw.stop());

  it('serves the page without a key while the admin API asks for one', async () => {
    const res = await realFetch(`${gw.url}/admin/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page).toMatch(/<script type="module" src="\/admin\/dashboard\/main-[A-Z0-9]{8}\.js"><\/script>/);
    expect((await realFetch(`${gw.url}/admin/dashboard/`)).status).toBe(200);
    expect((await realFetch(`${gw.url}/admin/usage/summary`)).status).toBe(401);
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await realFetch(`${gw.url}/admin/dashboard`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(page));
    expect(await res.text()).toBe('');
  });

  it('serves the hashed script and stylesheet as immutable, with their content types', async () => {
    const script = /src="(\/admin\/dashboard\/[^"]+\.js)"/.exec(page)![1]!;
    const style = /href="(\/admin\/dashboard\/[^"]+\.css)"/.exec(page)![1]!;
    for (const [path, type] of [[script, 'text/javascript; charset=utf-8'], [style, 'text/css; charset=utf-8']]) {
      const res = await realFetch(`${gw.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect((await res.text()).length).toBeGreaterThan(1000);
    }
  });

  it('answers 404 for unknown assets and for any way out of the folder', async () => {
    for (const path of [
      '/admin/dashboard/missing.js',
      '/admin/dashboard/index.html/',
      '/admin/dashboard/../../package.json',
      '/admin/dashboard/%2e%2e/%2e%2e/package.json',
      '/admin/dashboard/..%2f..%2fpackage.json',
      '/admin/dashboard//etc/passwd',
      '/admin/dashboard/%2fetc%2fpasswd',
    ]) {
      const res = await rawGet(gw.url, path);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body)).toMatchObject({ type: 'not_found_error', status_code: 404 });
    }
  });

  it('refuses other methods', async () => {
    const res = await realFetch(`${gw.url}/admin/dashboard`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('turning the dashboard off', () => {
  it.each<Record<string, string>>([{ ADMIN_UI_ENABLED: 'false' }, { ADMIN_ENDPOINTS_ENABLED: 'false' }])('%o answers 404', async (env) => {
    const gw = await startTestGateway({ GOMODEL_MASTER_KEY: 'master', ...env });
    try {
      for (const path of ['/admin/dashboard', '/admin/dashboard/']) {
        const res = await realFetch(`${gw.url}${path}`, { headers: { Authorization: 'Bearer master' } });
        expect(res.status, path).toBe(404);
      }
    } finally {
      await gw.stop();
    }
  });
});

describe('a gateway whose dashboard was not built', () => {
  it('warns the operator to build it and answers 404', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'gomodel-dashboard-'));
    const warn = vi.fn();
    const route = dashboardRoute({ warn } as unknown as Logger, empty);
    await rm(empty, { recursive: true });
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]![1]).toContain('npm run build');
    const req = { method: 'GET' } as IncomingMessage;
    const res = {} as ServerResponse;
    expect(() => route(req, res, '/admin/dashboard')).toThrow(GatewayError);
    expect(() => route(req, res, '/admin/dashboard')).toThrow('the dashboard is not built');
    expect(route(req, res, '/admin/usage/summary')).toBe(false);
  });
});
