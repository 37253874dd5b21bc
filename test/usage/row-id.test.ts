import { expect, it } from 'vitest';
import { rowId } from '../../src/usage/row-id.ts';

const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

it('is a version 7, variant 10 UUID carrying the time in its first 48 bits', () => {
  const at = Date.UTC(2026, 10, 22, 4, 45, 0, 123);
  const id = rowId(at);
  expect(id).toMatch(v7);
  expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
});

it('sorts by time and never repeats', () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => rowId(1_700_000_000_000 + Math.floor(i / 100)));
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(id).toMatch(v7);
  const times = ids.map((id) => id.slice(0, 13));
  expect([...times].sort()).toEqual(times);
});

it('writes every millisecond count of 48 bits, the smallest and largest included', () => {
  for (const at of [0, 1, 0xffffff, 0x1000000, 2 ** 32 - 1, 2 ** 32, Date.UTC(2026, 11, 2), 2 ** 48 - 1]) {
    const id = rowId(at);
    expect(id).toMatch(v7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  }
});
