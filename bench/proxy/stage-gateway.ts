import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../lib/ports.ts';
import { builtGateway, startServer, type Server } from '../lib/processes.ts';
import { MASTER_KEY } from './targets.ts';

const repo = new URL('../../', import.meta.url).pathname;

/**
 * A gateway from the build for a stage of its own (failover, cache): the bench's master key, the
 * mock as its `openai` provider, a data directory of its own (pushed to `dirs` for the caller to
 * remove), and `env` on top.
 */
export async function stageGateway(name: string, databaseUrl: string, mockUrl: string, dirs: string[], env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gomodel-bench-'));
  dirs.push(dir);
  return startServer({
    name,
    ...builtGateway(repo),
    cwd: repo,
    port,
    env: {
      PORT: String(port),
      POSTGRES_URL: databaseUrl,
      GOMODEL_MASTER_KEY: MASTER_KEY,
      LOG_LEVEL: 'error',
      GOMODEL_DATA_DIR: dir,
      OPENAI_BASE_URL: `${mockUrl}/v1`,
      OPENAI_API_KEY: 'sk-mock',
      ...env,
    },
  });
}
