/**
 * What a managed key and a rate limit cost a request in CPU, in process: the key check (a memo
 * hit, as every request after a client's first), the attribution with the key's binding, and the
 * limiter's admit and finish under a request, a token and a concurrency limit (local leases; the
 * database is asked only when a lease runs out). Prints microseconds of CPU per request, median
 * of five rounds, against the master key's check and a path with no limit.
 *
 *   npx tsx bench/micro/keys-limits.ts [requests per round, default 200000]
 */
import { createAttribution } from '../../src/http/attribution.ts';
import { KeyRing } from '../../src/keys/ring.ts';
import { AuthKeyStore } from '../../src/keys/store.ts';
import { createLogger } from '../../src/log.ts';
import { RateLimiter } from '../../src/ratelimits/limiter.ts';
import { RateLimitStore } from '../../src/ratelimits/store.ts';
import { createDatabase } from '../lib/postgres.ts';

const N = Number(process.argv[2] ?? 200_000);
const log = createLogger('silent');
const db = await createDatabase('keys_micro');
const keyStore = new AuthKeyStore(db.sql);
const ring = new KeyRing(db.sql, keyStore, log);
const limitStore = new RateLimitStore(db.sql);
const limiter = new RateLimiter(db.sql, limitStore, { leaseTtlMs: 15_000 }, log);
try {
  const { value } = await keyStore.create({ name: 'micro', description: '', userPath: '/bench/micro', labels: ['a', 'b'], expiresAt: null, dashboardAccess: false });
  for (const [seconds, reqs, toks] of [[60, 1e9, 1e12], [0, 1e5, null]] as const) {
    await limitStore.upsert({ scope: 'user_path', subject: '/bench', periodSeconds: seconds }, reqs, toks, 'manual');
  }
  await ring.start();
  await limiter.start();
  const attribute = createAttribution('X-GoModel-User-Path', []);
  const headers = { 'x-gomodel-user-path': '/bench/micro/app' };

  async function round(body: () => unknown | Promise<unknown>): Promise<number> {
    const start = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const r = body();
      if (r instanceof Promise) await r;
    }
    const { user, system } = process.cpuUsage(start);
    return (user + system) / N;
  }
  const median = async (body: () => unknown | Promise<unknown>) => {
    const rounds: number[] = [];
    for (let i = 0; i < 5; i++) rounds.push(await round(body));
    return rounds.sort((a, b) => a - b)[2]!;
  };

  const check = await median(() => ring.check(value, Date.now()));
  const bind = await median(() => attribute(headers, ring.check(value, Date.now()) as never));
  const limit = await median(() => {
    const admitted = limiter.admit('/bench/micro/app', null);
    return admitted instanceof Promise ? admitted.then((a) => limiter.finish(a, 70)) : admitted && limiter.finish(admitted, 70);
  });
  const none = await median(() => limiter.admit('/elsewhere', null));
  console.log(`CPU per request, median of 5 rounds of ${N}:`);
  console.log(`  managed key check (memo hit)           ${check.toFixed(3)} us`);
  console.log(`  key check + attribution with binding   ${bind.toFixed(3)} us`);
  console.log(`  rate limits (request+token+concurrent) ${limit.toFixed(3)} us  admit + finish`);
  console.log(`  no rule on the path                    ${none.toFixed(3)} us`);
} finally {
  await limiter.stop();
  await ring.stop();
  await db.drop();
}
