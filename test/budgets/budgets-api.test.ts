import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';
import { usageRow } from '../support/usage-rows.ts';

const KEY = 'k-budgets';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: KEY, SET_BUDGET_TEAM__ALPHA: 'daily=10,weekly=50', SET_BUDGET_: 'monthly=1000' });
});
afterAll(() => gw.stop());

const budgets = async () => (await api.listBudgets({ client: gw.client })).data!.budgets!;
const find = async (path: string, seconds: number) => (await budgets()).find((b) => b.user_path === path && b.period_seconds === seconds);

/** Sends a body as JSON; a string is sent as it is. */
async function call(method: string, path: string, body?: unknown) {
  const res = await realFetch(`${gw.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('definitions', () => {
  it('seeds budgets from SET_BUDGET_<PATH> as config budgets', async () => {
    const list = await budgets();
    expect(list.map((b) => [b.user_path, b.period_label, b.amount, b.source])).toEqual([
      ['/', 'monthly', 1000, 'config'],
      ['/team/alpha', 'daily', 10, 'config'],
      ['/team/alpha', 'weekly', 50, 'config'],
    ]);
  });

  it('reports every field of a budget’s status', async () => {
    const { data } = await api.listBudgets({ client: gw.client });
    expect(Date.parse(data!.server_time!)).toBeGreaterThan(0);
    const b = data!.budgets!.find((x) => x.period_label === 'daily')!;
    expect(b).toMatchObject({ user_path: '/team/alpha', period_seconds: 86_400, amount: 10, spent: 0, remaining: 10, usage_ratio: 0, has_usage: false, reserved: 0, source: 'config' });
    const start = Date.parse(b.period_start!);
    expect(Date.parse(b.period_end!) - start).toBe(86_400_000);
    expect(new Date(start).toISOString()).toMatch(/T00:00:00\.000Z$/);
    expect(b.period_ratio).toBeGreaterThanOrEqual(0);
    expect(b.period_ratio).toBeLessThanOrEqual(1);
    expect(b).not.toHaveProperty('last_reset_at');
  });

  it('creates, edits and deletes a manual budget through the generated client', async () => {
    const created = await api.upsertBudget({ client: gw.client, body: { user_path: 'ops/', budget_key: { period: 'hourly' }, amount: 2.5 } });
    expect(created.data?.budgets?.find((b) => b.user_path === '/ops')).toMatchObject({ period_label: 'hourly', amount: 2.5, source: 'manual' });
    await api.upsertBudget({ client: gw.client, body: { user_path: '/ops', budget_key: { period_seconds: 3600 }, amount: 4 } });
    expect((await find('/ops', 3600))?.amount).toBe(4);
    const custom = await api.upsertBudget({ client: gw.client, body: { user_path: '/ops', budget_key: { period_seconds: 900 }, amount: 1 } });
    expect(custom.data?.budgets?.find((b) => b.period_seconds === 900)?.period_label).toBe('900s');
    await api.deleteBudget({ client: gw.client, body: { user_path: '/ops', budget_key: { period: 'hour' } } });
    await api.deleteBudget({ client: gw.client, body: { user_path: '/ops', budget_key: { period_seconds: 900 } } });
    expect((await budgets()).some((b) => b.user_path === '/ops')).toBe(false);
  });

  it('makes an edited config budget manual, and configuration never overwrites it again', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/team/alpha', budget_key: { period: 'weekly' }, amount: 70 } });
    expect(await find('/team/alpha', 604_800)).toMatchObject({ amount: 70, source: 'manual' });
  });

  it('bounds a custom period by what the budgets table stores: 2147483647 seconds is taken, 3,000,000,000 is a 400 naming it', async () => {
    const longest = 2_147_483_647;
    const tooLong = 3_000_000_000;
    expect((await call('PUT', '/admin/budgets', { user_path: '/longest', budget_key: { period_seconds: longest }, amount: 5 })).status).toBe(200);
    expect(await find('/longest', longest)).toMatchObject({ period_seconds: longest, amount: 5 });
    expect((await call('POST', '/admin/budgets/reset-one', { user_path: '/longest', period_seconds: longest })).status).toBe(200);
    expect((await call('DELETE', '/admin/budgets', { user_path: '/longest', budget_key: { period_seconds: longest } })).status).toBe(200);
    const refusals = [
      await call('PUT', '/admin/budgets', { user_path: '/longest', budget_key: { period_seconds: tooLong }, amount: 5 }),
      await call('DELETE', '/admin/budgets', { user_path: '/longest', budget_key: { period_seconds: tooLong } }),
      await call('POST', '/admin/budgets/reset-one', { user_path: '/longest', period_seconds: tooLong }),
    ];
    expect(refusals.map((r) => [r.status, r.body.param, r.body.message])).toEqual([
      [400, 'budget_key.period_seconds', 'budget_key.period_seconds must be <= 2147483647'],
      [400, 'budget_key.period_seconds', 'budget_key.period_seconds must be <= 2147483647'],
      [400, 'period_seconds', 'period_seconds must be <= 2147483647'],
    ]);
  });

  it('answers 404 budget_not_found for a budget that does not exist', async () => {
    const del = await call('DELETE', '/admin/budgets', { user_path: '/nobody', budget_key: { period: 'daily' } });
    expect(del).toMatchObject({ status: 404, body: { type: 'not_found_error', code: 'budget_not_found' } });
    const reset = await call('POST', '/admin/budgets/reset-one', { user_path: '/nobody', period: 'daily' });
    expect(reset).toMatchObject({ status: 404, body: { code: 'budget_not_found' } });
  });
});

describe('bad bodies', () => {
  const cases: [string, string, unknown, string][] = [
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'daily' }, amount: 0 }, 'amount'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'daily' }, amount: -3 }, 'amount'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'daily' }, amount: 'ten' }, 'amount'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'daily' } }, 'amount'],
    ['PUT', '/admin/budgets', { user_path: '/x', amount: 5 }, 'budget_key'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: {}, amount: 5 }, 'budget_key'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'daily', period_seconds: 60 }, amount: 5 }, 'budget_key'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'fortnightly' }, amount: 5 }, 'budget_key.period'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period_seconds: 0 }, amount: 5 }, 'budget_key.period_seconds'],
    ['PUT', '/admin/budgets', { user_path: '/a/../b', budget_key: { period: 'daily' }, amount: 5 }, 'user_path'],
    ['PUT', '/admin/budgets', { user_path: '/x', budget_key: { period: 'daily' }, amount: 5, extra: true }, 'extra'],
    ['POST', '/admin/budgets/reset-one', { user_path: '/team/alpha' }, 'period'],
    ['POST', '/admin/budgets/reset', { confirmation: 'yes' }, 'confirmation'],
    ['PUT', '/admin/budgets/settings', { daily_reset_hour: 24 }, 'daily_reset_hour'],
    ['PUT', '/admin/budgets/settings', { monthly_reset_day: 0 }, 'monthly_reset_day'],
    ['PUT', '/admin/budgets/settings', { weekly_reset_weekday: 7 }, 'weekly_reset_weekday'],
    // JSON no double holds: JSON.parse makes 1e400 Infinity
    ['PUT', '/admin/budgets', '{"user_path":"/x","budget_key":{"period":"daily"},"amount":1e400}', 'amount'],
    ['PUT', '/admin/budgets', '{"user_path":"/x","budget_key":{"period_seconds":1e400},"amount":5}', 'budget_key.period_seconds'],
  ];
  it.each(cases)('%s %s %j → 400 naming %s', async (method, path, body, param) => {
    const res = await call(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ type: 'invalid_request_error', param, status_code: 400 });
  });
});

describe('resets and settings', () => {
  it('reset-one starts a new period now and clears its spend', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/reset', budget_key: { period: 'daily' }, amount: 5 } });
    gw.recorder.record(usageRow({ user_path: '/reset/x', total_cost: '0.75', input_cost: '0.5', output_cost: '0.25' }));
    await gw.recorder.flush();
    expect(await find('/reset', 86_400)).toMatchObject({ spent: 0.75, remaining: 4.25, has_usage: true, usage_ratio: 0.15 });
    const before = Date.now();
    const { data } = await api.resetBudget({ client: gw.client, body: { user_path: '/reset', period: 'daily' } });
    const b = data!.budgets!.find((x) => x.user_path === '/reset')!;
    expect(b).toMatchObject({ spent: 0, has_usage: false, remaining: 5 });
    expect(Date.parse(b.last_reset_at!)).toBeGreaterThanOrEqual(before - 1000);
    expect(b.period_start).toBe(b.last_reset_at);
    gw.recorder.record(usageRow({ user_path: '/reset', total_cost: '0.5' }));
    await gw.recorder.flush();
    expect((await find('/reset', 86_400))?.spent).toBe(0.5);
  });

  it('reset requires the confirmation and resets every budget', async () => {
    const { data } = await api.resetAllBudgets({ client: gw.client, body: { confirmation: 'reset' } });
    expect(data).toEqual({ status: 'ok' });
    expect((await budgets()).every((b) => b.spent === 0 && b.last_reset_at)).toBe(true);
    expect((await call('POST', '/admin/budgets/reset', { confirm: 'reset' })).status).toBe(200);
  });

  it('settings move the period bounds and spend follows the new bounds', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/anchored', budget_key: { period: 'monthly' }, amount: 100 } });
    // spend recorded well before today, inside this month under a day-1 anchor
    const now = new Date();
    const early = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1, 0, 30));
    gw.recorder.record(usageRow({ user_path: '/anchored', total_cost: '3', timestamp: early }));
    await gw.recorder.flush();
    const initial = await api.getBudgetSettings({ client: gw.client });
    expect(initial.data).toMatchObject({ monthly_reset_day: 1, monthly_reset_hour: 0, daily_reset_hour: 0, weekly_reset_weekday: 1 });
    expect((await find('/anchored', 2_592_000))?.spent).toBe(3);
    const updated = await api.updateBudgetSettings({ client: gw.client, body: { monthly_reset_hour: 1 } });
    expect(updated.data).toMatchObject({ monthly_reset_day: 1, monthly_reset_hour: 1 });
    const moved = (await find('/anchored', 2_592_000))!;
    expect(new Date(moved.period_start!).getUTCHours()).toBe(1);
    // 00:30 on day 1 is now before the period: the row no longer counts
    if (now.getTime() > Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1, 1)) expect(moved.spent).toBe(0);
    await api.updateBudgetSettings({ client: gw.client, body: { monthly_reset_hour: 0 } });
    expect((await find('/anchored', 2_592_000))?.spent).toBe(3);
  });
});

describe('when budgets are disabled', () => {
  it('answers every budget operation with 503 feature_unavailable', async () => {
    const off = await startTestGateway({ BUDGETS_ENABLED: 'false' });
    for (const [method, path, body] of [
      ['GET', '/admin/budgets'],
      ['PUT', '/admin/budgets', { budget_key: { period: 'daily' }, amount: 1 }],
      ['GET', '/admin/budgets/settings'],
      ['POST', '/admin/budgets/reset', { confirmation: 'reset' }],
    ] as [string, string, unknown?][]) {
      const res = await realFetch(`${off.url}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ type: 'invalid_request_error', code: 'feature_unavailable', message: 'budgets feature is unavailable' });
    }
    await off.stop();
  });
});
