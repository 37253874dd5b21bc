import cluster from 'node:cluster';
import { startGateway } from './app.ts';
import { configuredSecrets, loadConfig, type Config } from './config.ts';
import { openDatabase } from './db/open.ts';
import { StartupError } from './errors.ts';
import { usage } from './help.ts';
import { createLogger } from './log.ts';
import { Redactor } from './redact.ts';

/** A worker's exit code when it could not start: the primary stops rather than forking it again. */
const STARTUP_FAILED = 78;

/** Prints why the gateway cannot start as one line (the stack only at LOG_LEVEL=debug or trace) and exits. */
function cannotStart(err: unknown): never {
  const detail = /^(debug|trace)$/.test(process.env.LOG_LEVEL?.trim() ?? '') && !(err instanceof StartupError) && err instanceof Error ? `\n${err.stack}` : '';
  process.stderr.write(`gomodel-ts cannot start: ${err instanceof Error ? err.message : String(err)}${detail}\n`);
  process.exit(cluster.isWorker ? STARTUP_FAILED : 1);
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(usage);
  process.exit(0);
}

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (err) {
  cannotStart(err);
}
const redactor = new Redactor(configuredSecrets(config));
const log = createLogger(config.logLevel, redactor);

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
    if (code === STARTUP_FAILED) return void shutdown('a worker could not start').then(() => process.exit(1));
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
            w.process.kill('SIGTERM');
          }),
      ),
    );
    await db.close();
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM').then(() => process.exit(0)));
  process.on('SIGINT', () => void shutdown('SIGINT').then(() => process.exit(0)));
}

async function server() {
  const db = await openDatabase(config, log);
  const gateway = await startGateway(config, db, log, redactor);
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

try {
  if (cluster.isPrimary && config.workers > 1) await primary(config.workers);
  else await server();
} catch (err) {
  cannotStart(err);
}
