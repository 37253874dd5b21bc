import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../lib/ports.ts';
import { builtGateway, startServer, tsNode, type Server } from '../lib/processes.ts';

export const MASTER_KEY = 'bench-master-key';
/** Gateway targets send their traffic under this user path, each to a path of its own; the budget sits on its parent. */
export const USER_PATH = '/bench/load';

export interface TargetContext {
  mock: Server;
  /** Database of the gateway under load. */
  databaseUrl: string;
}

export interface Target {
  id: string;
  label: string;
  start(ctx: TargetContext): Promise<Server>;
  /** Headers every request to this target carries. */
  headers(ctx: TargetContext): Record<string, string>;
  /** The user path of a gateway target's usage rows. */
  userPath?: string;
  /** Runs on every CPU in the throughput rounds (the 2-worker gateway), not pinned to one. */
  everyCpu?: boolean;
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
    ...(budget ? { SET_BUDGET_BENCH: 'daily=1000000' } : {}),
  };
}

/** gomodel-ts under load; `root` is the checkout whose build runs (this one unless given). */
export function gateway(id: string, label: string, extraEnv: Record<string, string>, budget = true, root = repo): Target {
  const userPath = `${USER_PATH}/${id}`;
  return {
    id,
    label,
    userPath,
    everyCpu: extraEnv.GOMODEL_WORKERS !== undefined,
    async start(ctx) {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), 'gomodel-bench-'));
      const server = await startServer({ name: id, ...builtGateway(root), cwd: root, port, env: { ...gatewayEnv(ctx, port, budget, dataDir), ...extraEnv } });
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

export const targets: Target[] = [
  {
    id: 'direct',
    label: 'direct to the mock',
    start: async (ctx) => ({ ...ctx.mock, stop: async () => {} }),
    headers: () => ({ Authorization: 'Bearer sk-mock' }),
  },
  nodeProxy('bare', 'bare node:http proxy', 'bench/proxy/bare-proxy.ts'),
  nodeProxy('fetch', 'naive fetch proxy (buffered)', 'bench/proxy/fetch-proxy.ts'),
  gateway('gomodel', 'gomodel-ts', {}),
  gateway('gomodel-nobudget', 'gomodel-ts, no budget', {}, false),
  gateway('gomodel-cluster', 'gomodel-ts, 2 workers (cluster)', { GOMODEL_WORKERS: '2' }),
  {
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
  },
];
