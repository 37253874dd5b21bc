import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBudgetSettings } from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { freePort } from '../support/process.ts';
import { usageRow } from '../support/usage-rows.ts';
import { auditLine, type AuditEntry } from '../../src/usage/audit-line.ts';
import { rowId } from '../../src/usage/row-id.ts';
import { launchChromium } from './chromium.ts';

const KEY = 'browser-test-key';
const ZONE = 'Europe/Warsaw';
const artifacts = new URL('../artifacts/', import.meta.url);
mkdirSync(artifacts, { recursive: true });
const screenshot = (page: Page, name: string) => page.screenshot({ path: new URL(`${name}.png`, artifacts).pathname, fullPage: true });

const secondsAgo = (s: number) => new Date(Date.now() - s * 1000);

/**
 * 40 older rows over the last 40 hours (two models, two paths, labels), one row without a price,
 * one costly row under /team/alpha, and a burst of rows in the last minute for the live
 * throughput chart: provider calls with prompt-cached input and gateway cache hits.
 */
function seed(gw: TestGateway): void {
  for (let i = 0; i < 40; i++) {
    const claude = i % 2 === 1;
    gw.recorder.record(
      usageRow({
        request_id: `req-old-${i}`,
        timestamp: secondsAgo(3600 * (i + 1)),
        model: claude ? 'claude-sonnet-4-5' : 'gpt-4o-mini',
        provider: claude ? 'anthropic' : 'openai',
        provider_name: claude ? 'anthropic' : 'openai',
        user_path: i % 4 < 2 ? '/team/alpha' : '/team/beta',
        labels: i % 3 === 0 ? ['search', 'web'] : ['search'],
      }),
    );
  }
  gw.recorder.record(
    usageRow({
      request_id: 'req-mystery',
      timestamp: secondsAgo(7200),
      model: 'mystery-model',
      input_cost: null,
      output_cost: null,
      total_cost: null,
      cost_source: '',
      costs_calculation_caveat: 'no pricing for model mystery-model',
      raw_data: { prompt_tokens: 100, completion_tokens: 20 },
    }),
  );
  gw.recorder.record(
    usageRow({ request_id: 'req-alpha-spend', timestamp: secondsAgo(30), user_path: '/team/alpha/search', input_cost: '1.10', output_cost: '2.00', total_cost: '3.10' }),
  );
  for (let s = 2; s <= 50; s += 3) {
    gw.recorder.record(
      usageRow({
        request_id: `req-live-${s}`,
        timestamp: secondsAgo(s),
        user_path: '/live',
        input_tokens: 400 + s * 20,
        cached_input_tokens: 150,
        output_tokens: 120 + s * 5,
        total_tokens: 520 + s * 25,
        // Hits of the response cache cost nothing and keep what they saved.
        ...(s % 9 === 2 ? { cache_type: 'exact' as const, input_cost: '0', output_cost: '0', total_cost: '0', cost_source: 'response_cache', saved_cost: '0.000027' } : {}),
      }),
    );
  }
}

/** How many pixels of the chart's canvas have a colour (within a small distance, for anti-aliasing). */
function countPixels(page: Page, selector: string, rgb: [number, number, number]): Promise<number> {
  return page.evaluate(
    ([sel, [r, g, b]]) => {
      const canvas = document.querySelector<HTMLCanvasElement>(sel)!;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - r) + Math.abs(data[i + 1]! - g) + Math.abs(data[i + 2]! - b) < 12) n++;
      return n;
    },
    [selector, rgb] as const,
  );
}

const layerColors: Record<string, [number, number, number]> = {
  input: [0x3b, 0x82, 0xf6],
  promptCached: [0x14, 0xb8, 0xa6],
  output: [0xf5, 0x9e, 0x0b],
  locallyCached: [0xa8, 0x55, 0xf7],
};

describe('the dashboard in Chromium, against a gateway with a master key', () => {
  let gw: TestGateway;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const apiCalls: { path: string; authorization: string | undefined; zone: string | undefined }[] = [];

  beforeAll(async () => {
    // A provider nobody listens for, so that the Providers page has one in trouble to show.
    const down = `http://127.0.0.1:${await freePort()}/v1`;
    [gw, browser] = await Promise.all([
      startTestGateway({ GOMODEL_MASTER_KEY: KEY, OPENAI_DOWN_BASE_URL: down, FAILOVER_RULES_JSON: '{"openai-down/gpt-4o":["anthropic/claude-sonnet-4-5"]}' }),
      launchChromium(),
    ]);
    seed(gw);
    await gw.recorder.flush();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: ZONE, locale: 'en-US' });
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // Chromium logs every 4xx answer as a failed resource; the tests provoke 401 and 400 on purpose.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
    });
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname.startsWith('/admin/') && !url.pathname.startsWith('/admin/dashboard')) {
        const headers = req.headers();
        apiCalls.push({ path: url.pathname, authorization: headers.authorization, zone: headers['x-gomodel-timezone'] });
      }
    });
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('asks for the key, refuses a wrong one, and signs in with the right one', async () => {
    await page.goto(`${gw.url}/admin/dashboard`);
    const dialog = page.getByRole('dialog', { name: 'Sign in' });
    await dialog.waitFor();
    await dialog.getByLabel('Master key').fill('not-the-key');
    await dialog.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toBe('The gateway refused this key.');
    await screenshot(page, 'sign-in');

    await dialog.getByLabel('Master key').fill(KEY);
    await dialog.getByRole('button', { name: 'Sign in' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([KEY]);
    expect(await page.evaluate(() => Object.values(localStorage))).toEqual([]);
  });

  it('loads in under a second, with a skip link first in the tab order', async () => {
    const started = Date.now();
    await page.reload();
    await page.locator('.card-value').first().waitFor();
    const shown = Date.now() - started;
    const domReady = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).domContentLoadedEventEnd);
    expect(domReady).toBeLessThan(1000);
    expect(shown).toBeLessThan(1000);

    // The first Tab reaches the skip link, which moves focus to the page without leaving it.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    expect(page.url()).toMatch(/#\/overview$/);
  });

  it('draws the live throughput as four stacked, non-empty series and refreshes them in place', async () => {
    const caption = page.locator('#throughput-totals');
    await expect.poll(() => caption.textContent()).toMatch(/^Tokens over the last 60 seconds: [\d,]+ input, /);
    const totals = (await caption.textContent())!.match(/([\d,]+) (input|prompt cached|output|locally cached)/g)!;
    expect(totals).toHaveLength(4);
    for (const t of totals) expect(Number(t.split(' ')[0]!.replace(/,/g, '')), t).toBeGreaterThan(0);

    const canvas = '#throughput-chart canvas';
    for (const [layer, rgb] of Object.entries(layerColors)) {
      await expect.poll(() => countPixels(page, canvas, rgb), { message: `${layer} bars` }).toBeGreaterThan(20);
    }

    // The same canvas keeps being redrawn from new data: never a new chart per refresh, and
    // neither the page nor the heap grows with the refreshes.
    await page.evaluate(() => ((window as unknown as { liveCanvas: Element }).liveCanvas = document.querySelector('#throughput-chart canvas')!));
    const cdp = await context.newCDPSession(page);
    const footprint = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { usedSize } = await cdp.send('Runtime.getHeapUsage');
      return { heap: usedSize, nodes: await page.evaluate(() => document.getElementsByTagName('*').length) };
    };
    const refreshes = () => apiCalls.filter((c) => c.path === '/admin/usage/throughput').length;
    const before = { ...(await footprint()), refreshes: refreshes() };
    await page.waitForTimeout(6000);
    const after = await footprint();
    expect(refreshes() - before.refreshes).toBeGreaterThanOrEqual(4);
    expect(after.nodes).toBe(before.nodes);
    expect(after.heap - before.heap).toBeLessThan(256 * 1024);
    expect(await page.evaluate(() => document.querySelectorAll('#throughput-chart canvas').length)).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { liveCanvas: Element }).liveCanvas === document.querySelector('#throughput-chart canvas'))).toBe(true);
    await cdp.detach();

    expect(await page.locator('.card').filter({ hasText: 'Requests' }).locator('.card-value').textContent()).toMatch(/^[\d,]+$/);
    // Six of the live rows are cache hits.
    await expect.poll(() => page.locator('#cache-savings .card').filter({ hasText: 'Cache hits' }).locator('.card-value').textContent()).toBe('6');
    expect(await page.locator('#cache-savings .card').filter({ hasText: 'Cost saved' }).locator('.card-value').textContent()).toMatch(/^\$/);
    await page.locator('#daily-chart canvas').waitFor();
    await expect.poll(() => countPixels(page, '#daily-chart canvas', layerColors.input!)).toBeGreaterThan(20);
    await screenshot(page, 'overview');

    await page.getByRole('radio', { name: 'Minute' }).check();
    await expect.poll(() => caption.textContent()).toMatch(/^Tokens over the last 60 minutes: [1-9]/);
    await expect.poll(() => countPixels(page, canvas, layerColors.input!)).toBeGreaterThan(20);
  });

  it('fits a 360 px wide screen and follows a dark colour scheme', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await screenshot(page, 'overview-360px');
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(15, 18, 22)');
    await screenshot(page, 'overview-dark-360px');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('filters the usage log, pages through it and opens a row', async () => {
    await page.getByRole('link', { name: 'Usage log' }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Usage log');
    const info = page.locator('#log-page-info');
    await expect.poll(() => info.textContent()).toBe('1–50 of 53');

    const filters = page.getByRole('form', { name: 'Filters' });
    await filters.getByLabel('Provider').fill('openai');
    await filters.getByLabel('Rows per page').selectOption('25');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => info.textContent()).toBe('1–25 of 33');
    const previous = page.getByRole('button', { name: 'Previous' });
    const next = page.getByRole('button', { name: 'Next' });
    expect(await previous.isDisabled()).toBe(true);
    await next.click();
    await expect.poll(() => info.textContent()).toBe('26–33 of 33');
    expect(await page.locator('tbody tr').count()).toBe(8);
    expect(await next.isDisabled()).toBe(true);
    await previous.click();
    await expect.poll(() => info.textContent()).toBe('1–25 of 33');

    await filters.getByLabel('Provider').fill('');
    await filters.getByLabel('Model').fill('claude-sonnet-4-5');
    await filters.getByLabel('User path').fill('/team/alpha');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => info.textContent()).toBe('1–10 of 10');
    await screenshot(page, 'usage-log');

    await filters.getByLabel('Model').fill('');
    await filters.getByLabel('User path').fill('');
    await filters.getByLabel('Search').fill('mystery');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => info.textContent()).toBe('1–1 of 1');
    expect(await page.locator('tbody tr td').last().textContent()).toBe('unknown');
    await page.locator('tbody tr td').nth(1).click();
    const details = page.getByRole('dialog');
    await details.waitFor();
    const text = await details.textContent();
    expect(text).toContain('req-mystery');
    expect(text).toContain('— (unknown)');
    expect(text).toContain('no pricing for model mystery-model');
    expect(await details.locator('pre').textContent()).toContain('"completion_tokens": 20');
    await screenshot(page, 'usage-log-details');
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'detached' });

    // By keyboard: the row's button opens the same details.
    await page.locator('tbody tr button').focus();
    await page.keyboard.press('Enter');
    await details.waitFor();
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'detached' });

    await filters.getByLabel('Search').fill('');
    await filters.getByLabel('Last days').fill('0');
    await filters.getByRole('button', { name: 'Apply' }).click();
    const days = filters.getByLabel('Last days');
    await expect.poll(() => days.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator(`#${await days.getAttribute('id')}-error`).textContent()).toMatch(/days/);
  });

  it('filters the audit log, opens an entry with its bodies as text and its conversation, and charts status and latency', async () => {
    const hostile = '<img src=x onerror=window.pwned=1>';
    const entry = (i: number, over: Partial<AuditEntry>, at = Date.now() - (60 - i) * 1000): AuditEntry => ({
      id: rowId(at), timestamp: new Date(at), request_id: `audit-${i}`, duration_ns: (100 + i * 10) * 1e6,
      auth_method: 'master_key', auth_key_id: null, client_ip: '127.0.0.1', method: 'POST', path: '/v1/chat/completions', user_path: '/', requested_model: 'gpt-4o-mini',
      resolved_model: 'gpt-4o-mini', provider: 'openai', provider_name: 'openai', status_code: 200, error_type: null, error_code: null, error_message: null, stream: false,
      attempts: null, labels: [], session_id: 'browser-thread', user_agent: 'browser-test', request_headers: { authorization: '[redacted]' },
      request_body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `turn ${i} ${hostile}` }] }), response_body: JSON.stringify({ object: 'stream', content: `answer ${i}` }),
      request_body_truncated: false, response_body_truncated: false, ...over,
    });
    const entries = [entry(1, {}), entry(2, {}), entry(3, {}), entry(4, { status_code: 502, error_type: 'provider_error', error_message: 'provider down', session_id: null, response_body: null })];
    for (const e of entries) void gw.recorder.recordAudit(auditLine(e));
    await gw.recorder.flush();

    await page.getByRole('link', { name: 'Audit log' }).click();
    const info = page.locator('#audit-page-info');
    await expect.poll(() => info.textContent()).toBe('1–4 of 4');
    await expect.poll(() => page.locator('#audit-summary').textContent()).toMatch(/^4 requests per hour: 75% successful/);
    await expect.poll(() => countPixels(page, '#audit-status-chart canvas', [0x22, 0xc5, 0x5e])).toBeGreaterThan(20);
    await expect.poll(() => countPixels(page, '#audit-status-chart canvas', [0xef, 0x44, 0x44])).toBeGreaterThan(5);
    await page.locator('#audit-latency-chart canvas').waitFor();
    await screenshot(page, 'audit-log');

    const filters = page.getByRole('form', { name: 'Filters' });
    await filters.getByLabel('Status').fill('502');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => info.textContent()).toBe('1–1 of 1');
    await filters.getByLabel('Status').fill('');
    const rows = page.getByRole('table', { name: 'Audit log' }).locator('tbody tr');
    await expect.poll(() => rows.first().textContent()).toContain('502');
    await filters.getByLabel('Search').fill('audit-2');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => rows.first().textContent()).not.toContain('502');
    expect(await info.textContent()).toBe('1–1 of 1');

    await rows.locator('td').nth(1).click();
    const details = page.getByRole('dialog');
    await details.waitFor();
    expect(await details.locator('#audit-request-body').textContent()).toContain(hostile);
    expect(await details.locator('#audit-response-body').textContent()).toContain('"content": "answer 2"');
    expect(await details.locator('img').count()).toBe(0);
    await expect.poll(() => details.locator('.thread li').count()).toBe(3);
    expect(await details.locator('.thread li[aria-current]').textContent()).toContain('answer 2');
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await screenshot(page, 'audit-entry');
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'detached' });
    await filters.getByLabel('Search').fill('');
  });

  it('shows breakdowns by label, model and user path', async () => {
    await page.getByRole('link', { name: 'Breakdowns' }).click();
    await page.getByText('so these rows overlap').waitFor();
    const byLabel = page.getByRole('table', { name: 'By label' });
    await expect.poll(() => byLabel.locator('tbody tr').count()).toBe(2);
    expect(await byLabel.textContent()).toContain('web');
    expect(await page.getByRole('table', { name: 'By model' }).textContent()).toContain('claude-sonnet-4-5');
    expect(await page.getByRole('table', { name: 'By user path' }).textContent()).toContain('/team/beta');
    await screenshot(page, 'breakdowns');
  });

  it('creates, edits, resets and deletes budgets, with validation errors by the field', async () => {
    await page.getByRole('link', { name: 'Budgets' }).click();
    await page.getByText('No budgets yet').waitFor();
    const form = page.getByRole('form', { name: 'Budget' });
    const amount = form.getByLabel('Amount (USD per period)');

    await form.getByLabel('User path').fill('/team/alpha');
    await form.getByLabel('Period', { exact: true }).selectOption('daily');
    await amount.fill('0');
    await form.getByRole('button', { name: 'Add budget' }).click();
    await expect.poll(() => amount.getAttribute('aria-invalid')).toBe('true');
    const amountError = page.locator(`#${await amount.getAttribute('id')}-error`);
    expect(await amountError.textContent()).toMatch(/amount/);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('amount');
    await screenshot(page, 'budgets-invalid-amount');

    await amount.fill('5');
    await form.getByRole('button', { name: 'Add budget' }).click();
    const alpha = page.getByRole('article', { name: 'Budget /team/alpha · daily' });
    await alpha.waitFor();
    expect(await amountError.textContent()).toBe('');
    expect(await alpha.textContent()).toContain('$5.00');
    expect(await alpha.textContent()).toContain('$3.10');
    expect(await alpha.getByRole('meter', { name: 'Budget used' }).getAttribute('aria-valuetext')).toBe('62% of the amount');
    expect(Number(await alpha.getByRole('meter', { name: 'Period elapsed' }).getAttribute('aria-valuenow'))).toBeGreaterThanOrEqual(0);

    await form.getByLabel('User path').fill('/team/beta');
    await form.getByLabel('Period', { exact: true }).selectOption('custom');
    await form.getByLabel('Period in seconds').fill('7200');
    await amount.fill('20');
    await form.getByRole('button', { name: 'Add budget' }).click();
    const beta = page.getByRole('article', { name: 'Budget /team/beta · 7200s' });
    await beta.waitFor();

    await alpha.getByRole('button', { name: 'Edit /team/alpha · daily' }).click();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('amount');
    expect(await form.getByLabel('User path').isEditable()).toBe(false);
    await amount.fill('7.5');
    await form.getByRole('button', { name: 'Save amount' }).click();
    await expect.poll(() => alpha.textContent()).toContain('$7.50');
    await screenshot(page, 'budgets');

    await alpha.getByRole('button', { name: 'Reset /team/alpha · daily' }).click();
    const confirm = page.getByRole('dialog', { name: 'Reset /team/alpha · daily?' });
    await confirm.getByRole('button', { name: 'Reset period' }).click();
    await expect.poll(() => alpha.textContent()).toContain('Reset by hand at');

    await page.getByRole('button', { name: 'Reset all budgets' }).click();
    const resetAll = page.getByRole('dialog', { name: 'Reset every budget?' });
    await screenshot(page, 'budgets-reset-all-confirmation');
    await resetAll.getByRole('button', { name: 'Cancel' }).click();
    await resetAll.waitFor({ state: 'detached' });
    expect(apiCalls.some((c) => c.path === '/admin/budgets/reset')).toBe(false);
    await page.getByRole('button', { name: 'Reset all budgets' }).click();
    await resetAll.getByRole('button', { name: 'Reset all' }).click();
    await expect.poll(() => beta.textContent()).toContain('Reset by hand at');

    await beta.getByRole('button', { name: 'Delete /team/beta · 7200s' }).click();
    await page.getByRole('dialog', { name: 'Delete /team/beta · 7200s?' }).getByRole('button', { name: 'Delete' }).click();
    await beta.waitFor({ state: 'detached' });
    await page.getByRole('status').filter({ hasText: 'Deleted /team/beta · 7200s.' }).waitFor();
    await alpha.getByRole('button', { name: 'Delete /team/alpha · daily' }).click();
    await page.getByRole('dialog', { name: 'Delete /team/alpha · daily?' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No budgets yet').waitFor();
  });

  it('edits the reset anchors and shows their errors by the field', async () => {
    const settings = page.getByRole('form', { name: 'Reset anchors' });
    const dailyHour = settings.getByRole('group', { name: 'Daily' }).getByLabel('Hour');
    await expect.poll(() => dailyHour.inputValue()).toBe('0');
    await dailyHour.fill('24');
    await settings.getByRole('button', { name: 'Save anchors' }).click();
    await expect.poll(() => dailyHour.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator(`#${await dailyHour.getAttribute('id')}-error`).textContent()).toMatch(/daily_reset_hour/);

    await dailyHour.fill('6');
    await settings.getByRole('group', { name: 'Weekly' }).getByLabel('Weekday').selectOption({ label: 'Friday' });
    await settings.getByRole('button', { name: 'Save anchors' }).click();
    await expect.poll(() => settings.getByRole('status').textContent()).toBe('Saved. Period bounds have moved.');
    expect((await getBudgetSettings({ client: gw.client })).data).toMatchObject({ daily_reset_hour: 6, weekly_reset_weekday: 5 });
  });

  it('shows rate limits with their live counters next to the budgets, and adds one', async () => {
    const form = page.getByRole('form', { name: 'Rate limit' });
    await form.getByLabel('User path').fill('/team/alpha');
    await form.getByLabel('Period', { exact: true }).selectOption('minute');
    await form.getByLabel('Max requests').fill('60');
    await form.getByRole('button', { name: 'Save rate limit' }).click();
    const table = page.getByRole('region', { name: 'Rate limits with live counters' });
    await expect.poll(() => table.textContent()).toContain('0 / 60');
    // a request counted by the limiter shows up without reloading the page (the limiter learns of
    // the new rule by notification; reloading here makes sure it has before it counts)
    await gw.limiter!.refresh();
    await gw.limiter!.admit('/team/alpha/x', null);
    await gw.limiter!.sync();
    await expect.poll(() => table.textContent(), { timeout: 5000 }).toContain('1 / 60');
    await form.getByLabel('Max requests').fill('');
    await form.getByRole('button', { name: 'Save rate limit' }).click();
    const maxRequests = form.getByLabel('Max requests');
    await expect.poll(() => maxRequests.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator(`#${await maxRequests.getAttribute('id')}-error`).textContent()).toBe('give max_requests, max_tokens or both');
    await screenshot(page, 'rate-limits');
    await table.getByRole('button', { name: 'Delete rate limit /team/alpha · minute' }).click();
    await page.getByRole('dialog', { name: 'Delete /team/alpha · minute?' }).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => table.textContent()).toContain('No rate limits.');
  });

  it('creates a key and shows its secret once, with a copy button; relabels, rotates, deactivates and deletes it', async () => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByText('No keys yet').waitFor();
    const form = page.getByRole('form', { name: 'New API key' });
    await form.getByLabel('Name').fill('alpha-ci');
    await form.getByLabel('User path').fill('/team/alpha');
    await form.getByLabel('Labels').fill('ci, alpha');
    await form.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByRole('dialog', { name: 'Key “alpha-ci” created' });
    const secret = await shown.getByLabel('Secret').inputValue();
    expect(secret).toMatch(/^sk_gom_[A-Za-z0-9_-]{43}$/);
    await shown.getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => shown.getByRole('status').textContent()).toBe('Copied.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await screenshot(page, 'key-created');
    await shown.getByRole('button', { name: 'Close' }).click();
    await shown.waitFor({ state: 'detached' });

    const keys = page.getByRole('region', { name: 'API keys' });
    await expect.poll(() => keys.textContent()).toContain(`sk_gom_…${secret.slice(-4)}`);
    expect(await page.content()).not.toContain(secret);
    expect(await keys.textContent()).toContain('ci, alpha');

    await keys.getByRole('button', { name: 'Labels of key alpha-ci' }).click();
    const labels = page.getByRole('form', { name: 'Labels of alpha-ci' });
    await labels.getByLabel('Labels').fill('ci, nightly');
    await labels.getByRole('button', { name: 'Save labels' }).click();
    await expect.poll(() => keys.textContent()).toContain('ci, nightly');

    await keys.getByRole('button', { name: 'Rotate key alpha-ci' }).click();
    await page.getByRole('dialog', { name: 'Rotate alpha-ci?' }).getByRole('button', { name: 'Rotate' }).click();
    const rotated = page.getByRole('dialog', { name: 'New secret for “alpha-ci”' });
    const fresh = await rotated.getByLabel('Secret').inputValue();
    expect(fresh).not.toBe(secret);
    await rotated.getByRole('button', { name: 'Close' }).click();
    await expect.poll(() => keys.textContent()).toContain('old secret valid until');

    // usage views filter by key: the log offers the key, and filtering by it finds none of the seeded rows
    await page.getByRole('link', { name: 'Usage log' }).click();
    const keyFilter = page.getByRole('form', { name: 'Filters' }).getByLabel('API key');
    await expect.poll(() => keyFilter.locator('option').allTextContents()).toEqual(['Any key', `alpha-ci (sk_gom_…${fresh.slice(-4)})`]);
    await keyFilter.selectOption({ label: `alpha-ci (sk_gom_…${fresh.slice(-4)})` });
    await page.getByRole('form', { name: 'Filters' }).getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No requests match these filters.').waitFor();
    expect(apiCalls.some((c) => c.path === '/admin/usage/log')).toBe(true);
    await page.getByRole('link', { name: 'API keys' }).click();

    await keys.getByRole('button', { name: 'Deactivate key alpha-ci' }).click();
    await page.getByRole('dialog', { name: 'Deactivate alpha-ci?' }).getByRole('button', { name: 'Deactivate' }).click();
    await expect.poll(() => keys.textContent()).toContain('deactivated');
    await screenshot(page, 'keys');
    await keys.getByRole('button', { name: 'Delete key alpha-ci' }).click();
    await page.getByRole('dialog', { name: 'Delete alpha-ci?' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No keys yet').waitFor();
    await page.getByRole('link', { name: 'Budgets' }).click();
  });

  it('shows the health of each provider, its circuit breakers and the failover rules', async () => {
    await page.getByRole('link', { name: 'Providers' }).click();
    await page.getByRole('heading', { level: 1, name: 'Providers' }).waitFor();
    const health = page.getByRole('region', { name: 'Status of each provider', exact: true });
    await expect.poll(() => health.textContent()).toContain('openai-down (openai)');
    expect(await health.textContent()).toContain('Degradedits model list could not be fetched');
    expect(await page.locator('#provider-summary').textContent()).toContain('1 degraded');
    expect(await page.getByRole('region', { name: 'Breakers by model', exact: true }).textContent()).toContain('Every breaker is closed.');
    expect(await page.getByRole('region', { name: 'Rules by model', exact: true }).textContent()).toContain('openai-down/gpt-4o');
    await screenshot(page, 'providers');
    await page.getByRole('link', { name: 'Budgets' }).click();
  });

  it('sent the key and the browser time zone with every API call', () => {
    const signedIn = apiCalls.slice(apiCalls.findIndex((c) => c.authorization === `Bearer ${KEY}`));
    expect(signedIn.length).toBeGreaterThan(20);
    for (const c of signedIn) expect(c, c.path).toMatchObject({ authorization: `Bearer ${KEY}`, zone: ZONE });
    expect(apiCalls.every((c) => c.zone === ZONE)).toBe(true);
  });

  it('returns to the prompt when the key stops working, and signs out', async () => {
    await page.evaluate(() => sessionStorage.setItem('gomodel-ts.master-key', 'rotated-away'));
    await page.reload();
    await page.getByRole('dialog', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Master key').fill(KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Budgets' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('dialog', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('logged no script errors and no blocked resources', () => {
    expect(problems).toEqual([]);
  });
});

describe('the dashboard against an open gateway', () => {
  it('works without a key and never asks for one', async () => {
    const [gw, browser] = await Promise.all([startTestGateway(), launchChromium()]);
    try {
      const page = await browser.newPage();
      await page.goto(`${gw.url}/admin/dashboard/#/budgets`);
      await page.getByText('No budgets yet').waitFor();
      expect(await page.getByRole('dialog', { name: 'Sign in' }).isVisible()).toBe(false);
      expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(false);
    } finally {
      await browser.close();
      await gw.stop();
    }
  });
});
