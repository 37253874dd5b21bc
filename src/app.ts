import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { BudgetGuard } from './budgets/guard.ts';
import { BudgetStore } from './budgets/store.ts';
import type { Config } from './config.ts';
import { connect, withArrayTypes, type Sql } from './db/sql.ts';
import type { Logger } from './log.ts';
import { createAttribution } from './http/attribution.ts';
import { createAuthenticator } from './http/auth.ts';
import type { Handlers } from './http/context.ts';
import { dashboardRoute } from './http/dashboard.ts';
import { budgetHandlers } from './http/handlers/budgets.ts';
import { openaiHandlers } from './http/handlers/openai.ts';
import { systemHandlers } from './http/handlers/system.ts';
import { usageHandlers } from './http/handlers/usage.ts';
import { createHttpServer, type ExtraRoute } from './http/server.ts';
import { createMetrics, disabledMetrics } from './metrics.ts';
import { ProviderRegistry } from './providers/registry.ts';
import { Upstream } from './providers/upstream.ts';
import { PriceBook } from './usage/pricing.ts';
import { UsageQueries } from './usage/queries.ts';
import { gatewayRecorderTuning, UsageRecorder } from './usage/recorder.ts';

export interface Gateway {
  server: Server;
  recorder: UsageRecorder;
  registry: ProviderRegistry;
  /** null when BUDGETS_ENABLED=false. */
  guard: BudgetGuard | null;
  url: string;
  /** Stops accepting connections, waits for in-flight requests, drains usage rows. */
  close(): Promise<void>;
}

/**
 * Runs a start-up step again after a moment when it fails: the first query on a pool whose
 * connections the database just terminated (a restart, a failover) fails once.
 */
async function retryOnce<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch {
    await new Promise((r) => setTimeout(r, 500));
    return step();
  }
}

/** Wires services and handlers onto a migrated database and starts listening. */
export async function startGateway(config: Readonly<Config>, database: { url: string; sql: Sql }, log: Logger): Promise<Gateway> {
  const sql = await withArrayTypes(database.sql);
  if (!config.masterKey) {
    log.warn('GOMODEL_MASTER_KEY is not set: every endpoint, including /admin, is open to anyone who can reach this port');
  }
  if (config.providers.length === 0) log.warn('no provider is configured: set e.g. OPENAI_API_KEY (see README, Providers)');

  const recorder = new UsageRecorder(
    sql,
    {
      ...gatewayRecorderTuning,
      flushIntervalMs: config.usage.flushIntervalMs,
      bufferSize: config.usage.bufferSize,
      spillDir: config.usage.spillDir,
    },
    log,
  );
  recorder.start();

  const upstream = new Upstream({ timeoutMs: config.http.timeoutMs, headerTimeoutMs: config.http.headerTimeoutMs, retry: config.retry });
  const registry = new ProviderRegistry(config.providers, config.openrouter, upstream, log);
  await registry.start(config.modelsRefreshMs);
  const metrics = config.metrics.enabled ? await createMetrics(() => recorder.stats) : disabledMetrics;
  const prices = new PriceBook(config.pricing);
  const attribute = createAttribution(config.userPathHeader, config.tagging);
  const queries = new UsageQueries(sql);

  const budgetStore = new BudgetStore(sql);
  let budgetSql: Sql | null = null;
  let guard: BudgetGuard | null = null;
  if (config.budgets.enabled) {
    await retryOnce(() => budgetStore.reconcile(config.budgets.definitions));
    budgetSql = await withArrayTypes(connect(database.url, 4, { asyncCommit: true }));
    guard = new BudgetGuard(
      budgetSql,
      budgetStore,
      prices,
      {
        unknownPrice: config.budgets.unknownPrice,
        leaseTtlMs: config.budgets.leaseTtlMs,
        defaultOutputTokens: config.budgets.maxOutputTokens,
        anthropicDefaultMaxTokens: config.anthropicDefaultMaxTokens,
      },
      log,
    );
    await retryOnce(() => guard!.start());
  }

  const handlers = {
    ...systemHandlers(sql),
    ...openaiHandlers({
      registry,
      upstream,
      recorder,
      prices,
      metrics,
      log,
      attribute,
      guard,
      includeUsage: config.usage.enforceReturningUsage,
      anthropicDefaultMaxTokens: config.anthropicDefaultMaxTokens,
    }),
    ...usageHandlers(queries),
    ...budgetHandlers({ store: budgetStore, guard, queries, attribute }),
  } satisfies Handlers;

  /** Routes outside the contract, tried in order before openapi-backend. */
  const extraRoutes: ExtraRoute[] = [];
  if (config.adminUiEnabled) extraRoutes.push(dashboardRoute(log));
  if (config.metrics.enabled) {
    extraRoutes.push(async (req, res, path) => {
      if (path !== config.metrics.path || req.method !== 'GET') return false;
      const text = await metrics.render();
      res.writeHead(200, { 'Content-Type': metrics.contentType });
      res.end(text);
      return true;
    });
  }

  const server = createHttpServer(handlers, {
    log,
    bodySizeLimit: config.bodySizeLimit,
    authenticate: createAuthenticator(config.masterKey),
    adminEnabled: config.adminEndpointsEnabled,
    extraRoutes: async (req, res, path) => {
      for (const route of extraRoutes) if (await route(req, res, path)) return true;
      return false;
    },
  });
  await new Promise<void>((done) => server.listen(config.port, done));
  const { port } = server.address() as AddressInfo;
  log.info({ port, providers: registry.entries.map((e) => e.config.name) }, 'gomodel-ts listening');

  return {
    server,
    recorder,
    registry,
    guard,
    url: `http://127.0.0.1:${port}`,
    async close() {
      registry.stop();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
      });
      upstream.close();
      await recorder.close();
      await guard?.stop();
      await budgetSql?.end({ timeout: 5 });
    },
  };
}
