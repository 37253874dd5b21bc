import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let used = POOL_SIZE;
/** Two hex digits per byte value: cheaper than Buffer#toString('hex'), a call into C++ each. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex = (i: number) => HEX[pool[i]!]!;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Rows recorded at the
 * same time sit next to each other in the primary key, so inserts append at its right edge
 * rather than touching a random page per row (and, after every checkpoint, writing that whole
 * page to the WAL). Random bytes come from a pool refilled 409 ids at a time.
 */
export function rowId(ms: number = Date.now()): string {
  if (used + 10 > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  const r = used;
  used += 10;
  const time = ms.toString(16).padStart(12, '0');
  const randA = (((pool[r]! & 0x0f) << 8) | pool[r + 1]!).toString(16).padStart(3, '0');
  const variant = (0x80 | (pool[r + 2]! & 0x3f)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${randA}-${variant}${hex(r + 3)}-${hex(r + 4)}${hex(r + 5)}${hex(r + 6)}${hex(r + 7)}${hex(r + 8)}${hex(r + 9)}`;
}
