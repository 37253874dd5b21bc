import cluster from 'node:cluster';
import { startGateway } from './app.ts';
import { configuredSecrets, loadConfig, type Config } from './config.ts';
import { openDatabase } from './db/open.ts';
import { within } from './deadline.ts';
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
 * What a shutdown may take beyond SHUTDOWN_TIMEOUT before the process exits regardless (every
 * usage row is in the journal by then): cut requests get 1 s to end, and each of the three steps
 * that talk to the database (usage rows, budget leases, closing the pool) 1 s when it hangs.
 */
const EXIT_MARGIN_MS = 5000;

/** Signals a worker that may have exited already (workers failing to start exit on their own). */
function signalWorker(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

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
            if (w.isDead()) return done();
            const kill = setTimeout(() => signalWorker(w.process.pid!, 'SIGKILL'), config.shutdownTimeoutMs + 2 * EXIT_MARGIN_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            // Not w.process.kill: Deno's closes the worker's IPC channel as it signals
            // (denoland/deno#36643), and the worker's server.close() then dies on it, rows unwritten.
            signalWorker(w.process.pid!, 'SIGTERM');
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

try {
  if (cluster.isPrimary && config.workers > 1) await primary(config.workers);
  else await server();
} catch (err) {
  cannotStart(err);
}
