import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { BudgetGuard } from './budgets/guard.ts';
import { BudgetStore } from './budgets/store.ts';
import { configuredSecrets, type Config } from './config.ts';
import { CredentialRegistrar } from './credentials/registrar.ts';
import { CredentialStore } from './credentials/store.ts';
import { StartupError } from './errors.ts';
import { PartitionKeeper, type TimePartitioned } from './db/partitions.ts';
import { connect, withArrayTypes, type Sql } from './db/sql.ts';
import { within } from './deadline.ts';
import type { Logger } from './log.ts';
import { createAttribution, type Attribution } from './http/attribution.ts';
import { createAuthenticator } from './http/auth.ts';
import type { Handlers } from './http/context.ts';
import { dashboardRoute } from './http/dashboard.ts';
import { authKeyHandlers } from './http/handlers/auth-keys.ts';
import { budgetHandlers } from './http/handlers/budgets.ts';
import { cacheHandlers } from './http/handlers/cache.ts';
import { ResponseCache } from './cache/store.ts';
import { ingressHandlers } from './http/handlers/ingress.ts';
import { rateLimitHandlers } from './http/handlers/rate-limits.ts';
import { openaiHandlers } from './http/handlers/openai.ts';
import { passthroughHandlers } from './http/handlers/passthrough.ts';
import { providerCredentialHandlers } from './http/handlers/provider-credentials.ts';
import { systemHandlers } from './http/handlers/system.ts';
import { createProxy } from './http/proxy.ts';
import { usageHandlers } from './http/handlers/usage.ts';
import { auditHandlers } from './http/handlers/audit.ts';
import { AuditLog } from './http/audit.ts';
import { AuditQueries } from './usage/audit-queries.ts';
import { pricingHandlers } from './http/handlers/pricing.ts';
import { modelRegistryHandlers } from './http/handlers/models.ts';
import { virtualModelHandlers } from './http/handlers/virtual-models.ts';
import { createHttpServer, type ExtraRoute } from './http/server.ts';
import { createMetrics, disabledMetrics, type BreakerSample } from './metrics.ts';
import { FailoverRules } from './failover/rules.ts';
import { FailoverStore } from './failover/store.ts';
import { failoverHandlers } from './http/handlers/failover.ts';
import { providersStatusHandlers } from './http/handlers/providers-status.ts';
import { ProviderHealthBook } from './providers/breaker.ts';
import { KeyRing } from './keys/ring.ts';
import { AuthKeyStore } from './keys/store.ts';
import { ProviderRegistry } from './providers/registry.ts';
import { RateLimiter } from './ratelimits/limiter.ts';
import { RateLimitStore } from './ratelimits/store.ts';
import { VirtualModelStore } from './routing/store.ts';
import { VirtualModels } from './routing/virtual-models.ts';
import { Upstream } from './providers/upstream.ts';
import { Redactor } from './redact.ts';
import { PriceOverrideStore } from './usage/price-override-store.ts';
import { PriceOverrides } from './usage/price-overrides.ts';
import { PriceBook } from './usage/pricing.ts';
import { UsageQueries } from './usage/queries.ts';
import { gatewayRecorderTuning, UsageRecorder } from './usage/recorder.ts';

export interface Gateway {
  server: Server;
  recorder: UsageRecorder;
  registry: ProviderRegistry;
  /** null when BUDGETS_ENABLED=false. */
  guard: BudgetGuard | null;
  keys: KeyRing;
  /** null when RATE_LIMITS_ENABLED=false. */
  limiter: RateLimiter | null;
  virtual: VirtualModels;
  /** Makes the time partitions ahead and drops those past their retention (hourly; `maintain()` runs it now). */
  partitions: PartitionKeeper;
  url: string;
  /**
   * Stops accepting connections and lets in-flight requests finish for SHUTDOWN_TIMEOUT; then
   * cuts them (their rows say so). Writes queued usage rows while time is left; every row is in
   * the journal whatever the database does.
   */
  close(): Promise<void>;
}

/** After the shutdown timeout: how long cut requests get to journal their rows and end their responses. */
const CUT_GRACE_MS = 1000;
/** Each step that talks to the database at shutdown gets at least this long (usage rows are journaled either way). */
const MIN_DRAIN_MS = 1000;
/** Whom the admin API resolves models as when it checks failover rules: the root of every path. */
const ADMIN_CALLER: Attribution = { userPath: '/', labels: [], authMethod: 'master_key', authKeyId: null, sessionId: null };

/**
 * Runs a start-up step again after a moment when it fails: after a database restart or failover
 * each pooled connection the database terminated fails its next query once, and the steps below
 * may meet several of them.
 */
async function retrying<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Wires services and handlers onto a migrated database and starts listening. `redactor` scrubs
 * provider error replies; main.ts passes the one its logger scrubs every line with.
 */
export async function startGateway(
  config: Readonly<Config>,
  database: { url: string; sql: Sql },
  log: Logger,
  redactor = new Redactor(configuredSecrets(config)),
): Promise<Gateway> {
  const sql = await retrying(() => withArrayTypes(database.sql));
  if (!config.masterKey) {
    log.warn('GOMODEL_MASTER_KEY is not set: /admin is open to anyone who can reach this port, and /v1 too until a managed key exists');
  }
  if (config.providers.length === 0) log.warn('no provider is configured: set e.g. OPENAI_API_KEY (see README, Providers)');

  const recorder = new UsageRecorder(
    sql,
    {
      ...gatewayRecorderTuning,
      flushIntervalMs: config.usage.flushIntervalMs,
      bufferSize: config.usage.bufferSize,
      journalDir: config.usage.journalDir,
      fsyncIntervalMs: config.usage.journalFsyncMs,
    },
    log,
  );
  await recorder.start();

  // Time-partitioned tables (migration 0032; docs/retention.md): partitions made ahead, dropped past retention.
  const partitioned: TimePartitioned[] = [
    { table: 'usage', column: 'timestamp', unit: 'month', behind: 1, ahead: 2, keepMs: config.usage.retentionMs },
    { table: 'audit_log', column: 'timestamp', unit: 'day', behind: 1, ahead: 7, keepMs: config.audit.retentionMs },
  ];
  const partitions = new PartitionKeeper(sql, partitioned, log);
  // Not fatal: rows outside every partition wait in the default one, and the hourly run tries again.
  await partitions.start().catch((err: unknown) => log.warn({ err: String(err) }, 'partition maintenance failed'));

  const upstream = new Upstream({ timeoutMs: config.http.timeoutMs, headerTimeoutMs: config.http.headerTimeoutMs, retry: config.retry, drain: config.budgets.drain, keyRest: config.keyRest, log });
  const registry = new ProviderRegistry(config.providers, config.openrouter, upstream, log, redactor);
  await registry.start(config.modelsRefreshMs);
  const health = new ProviderHealthBook(config.breaker);
  const breakerSamples = function* (): Generator<BreakerSample> {
    for (const e of registry.entries) {
      const h = health.get(e.config.name);
      if (h) for (const [model, state] of h.states()) yield { provider: e.config.name, model: e.models.has(model) ? model : 'other', state };
    }
  };
  const metrics = config.metrics.enabled ? await createMetrics(() => recorder.stats, breakerSamples) : disabledMetrics;
  const prices = new PriceBook(config.pricing);
  const attribute = createAttribution(config.userPathHeader, config.tagging);
  const queries = new UsageQueries(sql, config.usage.retentionMs);

  // Budget and rate-limit leases commit asynchronously (a lease lost in a database crash only frees
  // headroom) on one small pool, whose one listening connection also carries every change
  // notification (budgets, rate limits, keys): a process holds about four connections when idle.
  const leaseSql = await retrying(() => withArrayTypes(connect(database.url, 4, { asyncCommit: true })));

  const budgetStore = new BudgetStore(sql);
  let guard: BudgetGuard | null = null;
  if (config.budgets.enabled) {
    await retrying(() => budgetStore.reconcile(config.budgets.definitions));
    guard = new BudgetGuard(
      leaseSql,
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
    await retrying(() => guard!.start());
  }

  const keyStore = new AuthKeyStore(sql);
  const keys = new KeyRing(leaseSql, keyStore, log);
  await retrying(() => keys.start());

  const credentialStore = new CredentialStore(sql);
  const credentials = new CredentialRegistrar(leaseSql, credentialStore, registry, redactor, config.credentialsKey, new Set(config.providers.map((p) => p.name)), log);
  await retrying(() => credentials.start());

  const rateLimitStore = new RateLimitStore(sql);
  let limiter: RateLimiter | null = null;
  if (config.rateLimits.enabled) {
    await retrying(() => rateLimitStore.reconcile(config.rateLimits.definitions));
    limiter = new RateLimiter(leaseSql, rateLimitStore, { leaseTtlMs: config.rateLimits.leaseTtlMs }, log);
    await retrying(() => limiter!.start());
  }

  const priceOverrideStore = new PriceOverrideStore(sql);
  const priceOverrides = new PriceOverrides(leaseSql, priceOverrideStore, prices, log);
  await retrying(() => priceOverrides.start());

  const virtualStore = new VirtualModelStore(sql);
  const virtual = new VirtualModels(leaseSql, virtualStore, config.virtualModels, registry, prices, log);
  await retrying(() => virtual.start());
  const failoverStore = new FailoverStore(sql);
  let failover: FailoverRules | null = null;
  if (config.failover.enabled) {
    failover = new FailoverRules(config.failover.rules, failoverStore, log);
    await retrying(() => failover!.start(leaseSql));
  }

  const auth = createAuthenticator(config.masterKey, keys);
  const responseCache = new ResponseCache(sql, config.cache, log);
  if (config.cache.enabled) responseCache.start();

  const proxyDeps = {
    registry,
    upstream,
    recorder,
    prices,
    metrics,
    log,
    attribute,
    guard,
    limiter,
    virtual,
    includeUsage: config.usage.enforceReturningUsage,
    anthropicDefaultMaxTokens: config.anthropicDefaultMaxTokens,
    replySizeLimit: config.http.replySizeLimit,
    failover,
    health,
    firstByteTimeoutMs: config.http.headerTimeoutMs < config.http.timeoutMs ? config.http.headerTimeoutMs : 0,
    cache: config.cache.enabled ? responseCache : null,
  };
  const proxy = createProxy(proxyDeps);
  // Headers that are the gateway's own (attribution) never reach a provider through passthrough.
  const ownHeaders = new Set([config.userPathHeader, ...config.tagging.map((t) => t.header)].map((h) => h.toLowerCase()));
  const handlers = {
    ...systemHandlers(sql),
    ...openaiHandlers(proxyDeps, proxy),
    ...ingressHandlers(proxyDeps, proxy),
    ...passthroughHandlers(proxyDeps, proxy, ownHeaders, redactor),
    ...usageHandlers(queries),
    ...auditHandlers(new AuditQueries(sql)),
    ...cacheHandlers(queries, responseCache),
    ...pricingHandlers({ sql, prices, store: priceOverrideStore, overrides: priceOverrides, retentionMs: config.usage.retentionMs }),
    ...budgetHandlers({ store: budgetStore, guard, queries, attribute, rateLimits: limiter ? rateLimitStore : null }),
    ...authKeyHandlers({ store: keyStore, ring: keys }),
    ...rateLimitHandlers({ store: rateLimitStore, limiter, keys: keyStore }),
    ...virtualModelHandlers({ store: virtualStore, virtual }),
    ...modelRegistryHandlers({ registry, virtual, prices }),
    ...failoverHandlers({ store: failoverStore, rules: failover, registry, prices, route: (body) => proxy.route(body, ADMIN_CALLER) }),
    ...providersStatusHandlers({ registry, health }),
    ...providerCredentialHandlers({ store: credentialStore, registrar: credentials, key: config.credentialsKey, fixed: config.providers }),
  } satisfies Handlers;

  /** Routes outside the contract, tried in order before openapi-backend. */
  const extraRoutes: ExtraRoute[] = [];
  if (config.adminUiEnabled) extraRoutes.push(dashboardRoute(log));
  if (config.metrics.enabled) {
    extraRoutes.push(async (req, res, path) => {
      if (path !== config.metrics.path || req.method !== 'GET') return false;
      if (config.metrics.auth) auth.admin(req.headers);
      const text = await metrics.render();
      res.writeHead(200, { 'Content-Type': metrics.contentType });
      res.end(text);
      return true;
    });
  }

  const server = createHttpServer(handlers, {
    log,
    audit: config.audit.enabled ? new AuditLog(config.audit, redactor, recorder) : undefined,
    bodySizeLimit: config.bodySizeLimit,
    auth,
    adminEnabled: config.adminEndpointsEnabled,
    extraRoutes: async (req, res, path) => {
      for (const route of extraRoutes) if (await route(req, res, path)) return true;
      return false;
    },
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        err.code === 'EADDRINUSE' || err.code === 'EACCES'
          ? new StartupError(`port ${config.port} ${err.code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges this process lacks'}: stop what holds it, or set PORT to another port`)
          : err,
      ),
    );
    server.listen(config.port, done);
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://localhost:${port}`;
  log.info(
    {
      port,
      api: `${base}/v1`,
      ...(config.adminUiEnabled ? { dashboard: `${base}/admin/dashboard` } : {}),
      ...(config.metrics.enabled ? { metrics: `${base}${config.metrics.path}` } : {}),
      providers: registry.entries.map((e) => e.config.name),
    },
    'gomodel-ts listening',
  );

  return {
    server,
    recorder,
    registry,
    guard,
    keys,
    limiter,
    virtual,
    partitions,
    url: `http://127.0.0.1:${port}`,
    async close() {
      const deadline = Date.now() + config.shutdownTimeoutMs;
      registry.stop();
      partitions.stop();
      const closed = new Promise<void>((done) => server.close(() => done()));
      // A keep-alive connection whose request ends after close() would otherwise stay open until its keep-alive timeout.
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      if (!(await within(closed, config.shutdownTimeoutMs))) {
        log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'requests still in flight at SHUTDOWN_TIMEOUT: cutting them');
        upstream.cut();
        if (!(await within(closed, CUT_GRACE_MS))) server.closeAllConnections();
      }
      clearInterval(idle);
      // Budgeted requests whose client left read on for their usage with no connection open: they
      // end before the rows are drained, or are cut at the deadline.
      while (upstream.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (upstream.inFlight > 0) {
        upstream.cut();
        for (const until = Date.now() + CUT_GRACE_MS; upstream.inFlight > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
      }
      // Their handlers record their rows in the turn their exchange ends.
      await new Promise((r) => setImmediate(r));
      upstream.close();
      await recorder.close(Math.max(MIN_DRAIN_MS, deadline - Date.now()));
      await within((async () => {
        await responseCache.stop();
        await guard?.stop();
        await limiter?.stop();
        await keys.stop();
        await virtual.stop();
        await priceOverrides.stop();
        await failover?.stop();
        await credentials.stop();
        await leaseSql.end({ timeout: 1 });
      })(), MIN_DRAIN_MS);
    },
  };
}
