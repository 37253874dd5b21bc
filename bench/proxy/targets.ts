import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../lib/ports.ts';
import { builtGateway, startServer, tsNode, type Server } from '../lib/processes.ts';
import { currentNode, type Runtime } from '../lib/runtimes.ts';

export const MASTER_KEY = 'bench-master-key';
/** Gateway targets send their traffic under this user path, each to a path of its own; the budget sits on its parent. */
export const USER_PATH = '/bench/load';

export interface TargetContext {
  mock: Server;
  /** Database of the gateway under load. */
  databaseUrl: string;
}

export interface Target {
  /** The kind of target: several gateway targets share one, each under a runtime of its own. */
  id: string;
  label: string;
  /** What a gateway target runs under. */
  runtime?: Runtime;
  start(ctx: TargetContext): Promise<Server>;
  /** Headers every request to this target carries. */
  headers(ctx: TargetContext): Record<string, string>;
  /** The user path of a gateway target's usage rows. */
  userPath?: string;
  /** Runs on every CPU in the throughput rounds (the 2-worker gateway), not pinned to one. */
  everyCpu?: boolean;
  /**
   * Its requests top up rate-limit leases in the database as they go (a lease starts at one
   * request after a second idle and doubles while traffic lasts): its c=1 runs with the database
   * running, since a paused one would hold the first top-up for the whole run.
   */
  leasesPerRequest?: boolean;
}

const repo = new URL('../../', import.meta.url).pathname;
const file = (path: string) => new URL(path, new URL('../../', import.meta.url)).pathname;
const portkeyVersion = (JSON.parse(readFileSync(file('node_modules/@portkey-ai/gateway/package.json'), 'utf8')) as { version: string }).version;

/** The environment of gomodel-ts under load: recording, a budget on the traffic's path, auth. */
function gatewayEnv(ctx: TargetContext, port: number, budget: boolean, dataDir: string): Record<string, string> {
  return {
    PORT: String(port),
    POSTGRES_URL: ctx.databaseUrl,
    GOMODEL_MASTER_KEY: MASTER_KEY,
    LOG_LEVEL: 'warn',
    GOMODEL_DATA_DIR: dataDir,
    OPENAI_BASE_URL: `${ctx.mock.url}/v1`,
    OPENAI_API_KEY: 'sk-mock',
    // The mock speaks the Messages API too: `anthropic/…` models reach it natively over /v1/messages.
    ANTHROPIC_BASE_URL: `${ctx.mock.url}/v1`,
    ANTHROPIC_API_KEY: 'sk-ant-mock',
    ...(budget ? { SET_BUDGET_BENCH: 'daily=1000000' } : {}),
  };
}

/** In a gateway target's environment, stands for the mock provider's URL (known once the mock runs). */
const MOCK_URL = '{mock}';

/** gomodel-ts under load; `root` is the checkout whose build runs (this one unless given), under `runtime`. */
export function gateway(id: string, label: string, extraEnv: Record<string, string>, budget = true, root = repo, runtime = currentNode): Target {
  const userPath = `${USER_PATH}/${id}@${runtime.id}`;
  return {
    id,
    label,
    runtime,
    userPath,
    everyCpu: extraEnv.GOMODEL_WORKERS !== undefined,
    async start(ctx) {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), 'gomodel-bench-'));
      const env = Object.fromEntries(Object.entries(extraEnv).map(([k, v]) => [k, v.replaceAll(MOCK_URL, ctx.mock.url)]));
      const server = await startServer({ name: `${id}@${runtime.id}`, ...builtGateway(root, runtime), cwd: root, port, env: { ...gatewayEnv(ctx, port, budget, dataDir), ...env } });
      return {
        ...server,
        async stop() {
          await server.stop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
    headers: () => ({ Authorization: `Bearer ${MASTER_KEY}`, 'X-GoModel-User-Path': userPath }),
  };
}

/**
 * Limits of the managed-key target, far above what the bench sends: every request takes from the
 * request, token and concurrency leases of the shared limiter, and none is refused. They are the
 * key's own (created with it), so the other gateway targets, which share the database, run without.
 */
const KEY_LIMITS = [
  { limit_key: { period: 'minute' }, max_requests: 1_000_000_000, max_tokens: 1_000_000_000_000 },
  { limit_key: { period: 'concurrent' }, max_requests: 100_000 },
];

/**
 * A gateway target whose traffic carries a managed key (bound to the target's user path, created
 * through the admin API once the gateway runs, with rate limits of its own) instead of the master key.
 */
function withManagedKey(t: Target): Target {
  let secret = '';
  return {
    ...t,
    async start(ctx) {
      const server = await t.start(ctx);
      const res = await fetch(`${server.url}/admin/auth-keys`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `bench ${t.id}`, user_path: t.userPath }),
      });
      if (res.status !== 201) {
        await server.stop();
        throw new Error(`${t.id}: creating its managed key answered ${res.status}: ${await res.text()}`);
      }
      const key = (await res.json()) as { id: string; value: string };
      secret = key.value;
      for (const limit of KEY_LIMITS) {
        const put = await fetch(`${server.url}/admin/rate-limits`, {
          method: 'PUT',
          headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ scope: 'auth_key', subject: key.id, ...limit }),
        });
        if (!put.ok) {
          await server.stop();
          throw new Error(`${t.id}: creating its rate limit answered ${put.status}: ${await put.text()}`);
        }
      }
      return server;
    },
    headers: () => ({ Authorization: `Bearer ${secret}` }),
    leasesPerRequest: true,
  };
}

function nodeProxy(id: string, label: string, entry: string): Target {
  return {
    id,
    label,
    async start(ctx) {
      const port = await freePort();
      return startServer({ name: id, ...tsNode(file(entry)), port, env: { PORT: String(port), UPSTREAM_URL: ctx.mock.url } });
    },
    headers: () => ({ Authorization: 'Bearer sk-mock' }),
  };
}

const direct: Target = {
  id: 'direct',
  label: 'direct to the mock',
  start: async (ctx) => ({ ...ctx.mock, stop: async () => {} }),
  headers: () => ({ Authorization: 'Bearer sk-mock' }),
};

const portkey: Target = {
  id: 'portkey',
  label: `Portkey gateway ${portkeyVersion}`,
  async start() {
    const port = await freePort();
    return startServer({
      name: 'portkey',
      command: process.execPath,
      args: [file('node_modules/@portkey-ai/gateway/build/start-server.js'), `--port=${port}`, '--headless'],
      port,
    });
  },
  headers: (ctx) => ({
    Authorization: 'Bearer sk-mock',
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `${ctx.mock.url}/v1`,
  }),
};

const bare = nodeProxy('bare', 'bare node:http proxy', 'bench/proxy/bare-proxy.ts');
const fetchProxy = nodeProxy('fetch', 'naive fetch proxy (buffered)', 'bench/proxy/fetch-proxy.ts');

/** What gomodel-ts is measured against; these run under the bench's Node whatever `--runtime` says. */
export const referenceTargets: Target[] = [direct, bare, fetchProxy, portkey];

const gateways: { id: string; label: string; env: Record<string, string>; budget?: boolean; managedKey?: boolean }[] = [
  { id: 'gomodel', label: 'gomodel-ts', env: {} },
  { id: 'gomodel-nobudget', label: 'gomodel-ts, no budget', env: {}, budget: false },
  { id: 'gomodel-cluster', label: 'gomodel-ts, 2 workers (cluster)', env: { GOMODEL_WORKERS: '2' } },
  { id: 'gomodel-keys', label: 'gomodel-ts, managed key + rate limits', env: {}, managedKey: true },
  { id: 'gomodel-failover', label: 'gomodel-ts, virtual model + failover chain', env: routingEnv() },
];

/**
 * The chat models the bench asks for as virtual models (each an alias of the real model, open to
 * the bench's user paths only), and a failover chain on every model it asks for, to a second
 * provider (the same mock). The primary always answers, so this measures what resolving a virtual
 * model, checking its access policy and looking up a chain cost the happy path.
 */
function routingEnv(): Record<string, string> {
  const models = ['gpt-4o-mini', 'gpt-4o-mini-20ms', 'anthropic/gpt-4o-mini'];
  const aliased = models.filter((m) => !m.includes('/'));
  return {
    OPENAI_BACKUP_BASE_URL: `${MOCK_URL}/v1`,
    OPENAI_BACKUP_API_KEY: 'sk-mock',
    VIRTUAL_MODELS: JSON.stringify(aliased.map((m) => ({ source: m, target_model: `openai/${m}`, user_paths: ['/bench'] }))),
    FAILOVER_RULES_JSON: JSON.stringify(Object.fromEntries(models.map((m) => [m, [`openai-backup/${m.replace(/^anthropic\//, '')}`]]))),
  };
}

/** What `--targets` takes. */
export const targetIds = [direct, bare, fetchProxy, ...gateways, portkey].map((t) => t.id);

/** Every proxy target in the reports' order, each gateway target once under each runtime (named after it when there are several). */
export function proxyTargets(runtimes: Runtime[]): Target[] {
  const named = (label: string, runtime: Runtime) => (runtimes.length > 1 ? `${label}, ${runtime.name}` : label);
  const gatewayTargets = gateways.flatMap((g) =>
    runtimes.map((r) => {
      const t = gateway(g.id, named(g.label, r), g.env, g.budget, repo, r);
      return g.managedKey ? withManagedKey(t) : t;
    }),
  );
  return [direct, bare, fetchProxy, ...gatewayTargets, portkey];
}
