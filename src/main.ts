import cluster from 'node:cluster';
import { startGateway } from './app.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './db/open.ts';
import { within } from './deadline.ts';
import { createLogger } from './log.ts';

const config = loadConfig();
const log = createLogger(config.logLevel);

/**
 * What a shutdown may take beyond SHUTDOWN_TIMEOUT before the process exits regardless (every
 * usage row is in the journal by then): cut requests get 1 s to end, and each of the three steps
 * that talk to the database (usage rows, budget leases, closing the pool) 1 s when it hangs.
 */
const EXIT_MARGIN_MS = 5000;

/**
 * With GOMODEL_WORKERS > 1 the primary process owns the database (starts the embedded one, runs
 * the migrations) and forks workers that share the port; each worker is a complete gateway with
 * its own usage queue and journal (a dead worker's journal is read back by the next worker to
 * start or scan). SIGTERM/SIGINT stop every worker before the database stops; a worker still
 * running after its own shutdown bound is killed (its rows are journaled).
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
            const kill = setTimeout(() => w.process.kill('SIGKILL'), config.shutdownTimeoutMs + 2 * EXIT_MARGIN_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            w.process.kill('SIGTERM');
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
    log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing in-flight requests and draining usage rows');
    setTimeout(() => {
      log.error('shutdown overran SHUTDOWN_TIMEOUT; exiting with the usage rows left in the journal');
      gateway.recorder.syncJournal();
      process.exit(1);
    }, config.shutdownTimeoutMs + EXIT_MARGIN_MS).unref();
    await gateway.close();
    await within(db.close(), 1000);
    log.info(gateway.recorder.stats, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // Workers ignore the terminal's SIGINT: the primary stops them in order.
  process.on('SIGINT', () => void (cluster.isWorker ? undefined : shutdown('SIGINT')));
}

if (cluster.isPrimary && config.workers > 1) await primary(config.workers);
else await server();
