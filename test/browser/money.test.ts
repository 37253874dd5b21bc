import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertBudget } from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { usageRow } from '../support/usage-rows.ts';
import { launchChromium } from './chromium.ts';

const artifacts = new URL('../artifacts/', import.meta.url);
mkdirSync(artifacts, { recursive: true });
const screenshot = (page: Page, name: string) => page.screenshot({ path: new URL(`${name}.png`, artifacts).pathname, fullPage: true });

const secondsAgo = (s: number) => new Date(Date.now() - s * 1000);
const unpriced = { input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: 'no pricing for model mystery-model' };

/**
 * Under /money: an 8-token embedding costing $0.00000016 (with labels and a session), a chat
 * request costing $0.00224984 (so $0.00225 together) and nine requests of a model without a price.
 */
function seed(gw: TestGateway): void {
  gw.recorder.record(
    usageRow({
      request_id: 'req-tiny', timestamp: secondsAgo(120), model: 'text-embedding-3-small', endpoint: '/v1/embeddings', user_path: '/money',
      input_tokens: 8, output_tokens: 0, total_tokens: 8, uncached_input_tokens: 8,
      input_cost: '0.00000016', output_cost: '0', total_cost: '0.00000016', labels: ['rag', 'batch'], session_id: 'sess-42',
    }),
  );
  gw.recorder.record(usageRow({ request_id: 'req-chat', timestamp: secondsAgo(60), user_path: '/money', input_cost: '0.00212484', output_cost: '0.000125', total_cost: '0.00224984' }));
  for (let i = 0; i < 9; i++) gw.recorder.record(usageRow({ request_id: `req-unpriced-${i}`, timestamp: secondsAgo(300 + i), model: 'mystery-model', user_path: '/money', ...unpriced }));
}

describe('money in the dashboard', () => {
  let gw: TestGateway;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    [gw, browser] = await Promise.all([startTestGateway(), launchChromium()]);
    seed(gw);
    await gw.recorder.flush();
    await upsertBudget({ client: gw.client, body: { user_path: '/money', budget_key: { period: 'daily' }, amount: 5 }, throwOnError: true });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC', locale: 'en-US' });
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('says how many requests the total cost leaves out for want of a price', async () => {
    await page.goto(`${gw.url}/admin/dashboard/#/overview`);
    const cost = page.locator('.card').filter({ hasText: 'Cost' });
    await expect.poll(() => cost.locator('.card-value').textContent()).toBe('$0.00225');
    expect(await cost.locator('.card-detail').textContent()).toBe('+ 9 requests of unknown cost · $0.002125 input · $0.000125 output');
    await screenshot(page, 'money-overview');
  });

  it('keeps the significant digits of tiny costs and counts unpriced requests in the breakdowns', async () => {
    await page.getByRole('link', { name: 'Breakdowns' }).click();
    const byModel = page.getByRole('table', { name: 'By model' });
    await expect.poll(() => byModel.locator('tbody tr').count()).toBe(3);
    const cells = (table: typeof byModel, first: string) => table.locator('tbody tr').filter({ hasText: first }).locator('td').allTextContents();
    expect(await cells(byModel, 'text-embedding-3-small')).toEqual(['text-embedding-3-small', 'openai', '1', '8', '0', '$0.00000016', '$0.00', '$0.00000016']);
    expect((await cells(byModel, 'mystery-model')).slice(-3)).toEqual(['—', '—', '9 requests of unknown cost']);
    const byPath = page.getByRole('table', { name: 'By user path' });
    expect((await cells(byPath, '/money')).at(-1)).toBe('$0.00225 + 9 requests of unknown cost');
    await screenshot(page, 'money-breakdowns');
  });

  it('shows a row of unknown cost as unknown, and the labels and session of a row', async () => {
    await page.getByRole('link', { name: 'Usage log' }).click();
    const info = page.locator('#log-page-info');
    await expect.poll(() => info.textContent()).toBe('1–11 of 11');
    const filters = page.getByRole('form', { name: 'Filters' });
    await filters.getByLabel('Search').fill('mystery');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => info.textContent()).toBe('1–9 of 9');
    expect(await page.locator('tbody tr td:last-child').allTextContents()).toEqual(Array(9).fill('unknown'));

    await filters.getByLabel('Search').fill('req-tiny');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => info.textContent()).toBe('1–1 of 1');
    const row = await page.locator('tbody tr td').allTextContents();
    expect(row.slice(1)).toEqual(['text-embedding-3-small', 'openai', '/money', 'rag, batch', '8', '0', '$0.00000016']);
    await page.locator('tbody tr button').click();
    const details = page.getByRole('dialog');
    await details.waitFor();
    const pairs = Object.fromEntries(
      await details.locator('dl.pairs > div').evaluateAll((divs) => divs.map((d) => [d.querySelector('dt')!.textContent, d.querySelector('dd')!.textContent])),
    );
    expect(pairs).toMatchObject({ Labels: 'rag, batch', Session: 'sess-42', Total: '$0.00000016' });
    await screenshot(page, 'money-log-details');
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'detached' });
  });

  it('shows a small non-zero share of a budget as such, never 0%', async () => {
    await page.getByRole('link', { name: 'Budgets' }).click();
    const budget = page.getByRole('article', { name: 'Budget /money · daily' });
    await budget.waitFor();
    expect(await budget.locator('dd').first().textContent()).toBe('$0.00225');
    // $0.00225 of $5.
    expect(await budget.getByRole('meter', { name: 'Budget used' }).getAttribute('aria-valuetext')).toBe('0.045% of the amount');
    await screenshot(page, 'money-budgets');
  });

  it('logged no script errors', () => {
    expect(problems).toEqual([]);
  });
});
