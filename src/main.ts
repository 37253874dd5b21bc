import cluster from 'node:cluster';
import { startGateway } from './app.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './db/open.ts';
import { createLogger } from './log.ts';

const config = loadConfig();
const log = createLogger(config.logLevel);

/**
 * With GOMODEL_WORKERS > 1 the primary process owns the database (starts the embedded one, runs
 * the migrations) and forks workers that share the port; each worker is a complete gateway with
 * its own usage queue and spill file. SIGTERM/SIGINT drain every worker before the database stops.
 */
async function primary(workers: number) {
  const db = await openDatabase(config, log);
  let stopping = false;
  const fork = () => cluster.fork({ POSTGRES_URL: db.url });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  for (let i = 0; i < workers; i++) fork();
  log.info({ workers }, 'gomodel-ts primary started');

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down workers');
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((done) => {
            w.once('exit', () => done());
            // Not w.process.kill: Deno's closes the worker's IPC channel as it signals
            // (denoland/deno#36643), and the worker's server.close() then dies on it, rows unwritten.
            process.kill(w.process.pid!, 'SIGTERM');
          }),
      ),
    );
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function server() {
  const db = await openDatabase(config, log);
  const gateway = await startGateway(config, db, log);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests and draining usage rows');
    await gateway.close();
    await db.close();
    log.info(gateway.recorder.stats, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // Workers ignore the terminal's SIGINT: the primary stops them in order.
  process.on('SIGINT', () => void (cluster.isWorker ? undefined : shutdown('SIGINT')));
}

if (cluster.isPrimary && config.workers > 1) await primary(config.workers);
else await server();
