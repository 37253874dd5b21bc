/**
 * What virtual models cost routing a request, in CPU, in process: resolving a real model as
 * proxy.route does (a virtual-model miss and the access-policy check around the registry's
 * look-up) against the registry's look-up alone, with no virtual model and with 200 of them and
 * 50 access policies; then a virtual model's resolution under each strategy. Prints microseconds
 * of CPU per request, median of five rounds.
 *
 *   npx tsx bench/micro/virtual-models.ts [requests per round, default 200000]
 */
import { createLogger } from '../../src/log.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import type { ProviderConfig } from '../../src/providers/types.ts';
import { Upstream } from '../../src/providers/upstream.ts';
import { Redactor } from '../../src/redact.ts';
import { VirtualModelStore } from '../../src/routing/store.ts';
import { VirtualModels } from '../../src/routing/virtual-models.ts';
import { PriceBook } from '../../src/usage/pricing.ts';
import type { VirtualModelDefinition } from '../../src/virtual-model-definition.ts';
import { createDatabase } from '../lib/postgres.ts';

const N = Number(process.argv[2] ?? 200_000);
const log = createLogger('silent');
const db = await createDatabase('virtual_micro');
const provider = (name: string, type: ProviderConfig['type'], models: string[]): ProviderConfig => ({ name, type, baseUrl: 'http://127.0.0.1:9/v1', apiKey: '', models });
const upstream = new Upstream({ timeoutMs: 1000, headerTimeoutMs: 1000, retry: { maxRetries: 0, initialBackoffMs: 1, maxBackoffMs: 1, factor: 2, jitter: 0 }, drain: { ms: 0, bytes: 0 } });
const registry = new ProviderRegistry(
  [provider('openai', 'openai', ['gpt-4o', 'gpt-4o-mini', 'o3-mini']), provider('anthropic', 'anthropic', ['claude-sonnet-4-5', 'claude-haiku-4-5'])],
  { siteUrl: '', appName: '' },
  upstream,
  log,
  new Redactor([]),
);
const prices = new PriceBook();
const vm = (source: string, targets: VirtualModelDefinition['targets'], strategy: VirtualModelDefinition['strategy'] = 'round_robin', userPaths: string[] = []): VirtualModelDefinition => ({
  source, targets, strategy, userPaths, description: '', enabled: true,
});
const many: VirtualModelDefinition[] = [
  ...Array.from({ length: 200 }, (_, i) => vm(`alias-${i}`, [{ model: 'openai/gpt-4o-mini', weight: 1 }])),
  ...Array.from({ length: 50 }, (_, i) => vm(`policy-model-${i}`, [], 'round_robin', ['/team'])),
  vm('rr', [{ model: 'openai/gpt-4o', weight: 3 }, { model: 'anthropic/claude-sonnet-4-5', weight: 1 }]),
  vm('dice', [{ model: 'openai/gpt-4o', weight: 1 }, { model: 'anthropic/claude-sonnet-4-5', weight: 1 }], 'weighted'),
  vm('cheap', [{ model: 'openai/gpt-4o', weight: 1 }, { model: 'anthropic/claude-haiku-4-5', weight: 1 }, { model: 'openai/gpt-4o-mini', weight: 1 }], 'cost'),
];
const store = new VirtualModelStore(db.sql);
const none = new VirtualModels(db.sql, store, [], registry, prices, log);
const some = new VirtualModels(db.sql, store, many, registry, prices, log);
try {
  await none.reload();
  await some.reload();

  async function round(body: () => unknown): Promise<number> {
    const start = process.cpuUsage();
    for (let i = 0; i < N; i++) body();
    const { user, system } = process.cpuUsage(start);
    return (user + system) / N;
  }
  const median = async (body: () => unknown) => {
    const rounds: number[] = [];
    for (let i = 0; i < 5; i++) rounds.push(await round(body));
    return rounds.sort((a, b) => a - b)[2]!;
  };
  /** proxy.route for a request without the `provider` hint. */
  const route = (virtual: VirtualModels, model: string) => {
    const targets = virtual.routes(model, '/team/app');
    if (targets) return targets[0];
    const r = registry.resolve(model)!;
    virtual.authorize(r, model, '/team/app');
    return r;
  };

  const bare = await median(() => registry.resolve('gpt-4o-mini'));
  const noVirtual = await median(() => route(none, 'gpt-4o-mini'));
  const withVirtual = await median(() => route(some, 'gpt-4o-mini'));
  const alias = await median(() => route(some, 'alias-7'));
  const rr = await median(() => route(some, 'rr'));
  const dice = await median(() => route(some, 'dice'));
  const cheap = await median(() => route(some, 'cheap'));
  console.log(`CPU per request, median of 5 rounds of ${N}:`);
  console.log(`  registry look-up alone (before)            ${bare.toFixed(3)} us`);
  console.log(`  real model, no virtual model configured    ${noVirtual.toFixed(3)} us`);
  console.log(`  real model, 200 virtual models, 50 policies ${withVirtual.toFixed(3)} us`);
  console.log(`  alias (one target)                         ${alias.toFixed(3)} us`);
  console.log(`  round_robin, two targets                   ${rr.toFixed(3)} us`);
  console.log(`  weighted, two targets                      ${dice.toFixed(3)} us`);
  console.log(`  cost, three targets                        ${cheap.toFixed(3)} us`);
} finally {
  await db.drop();
}
