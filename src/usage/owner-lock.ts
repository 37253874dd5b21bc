import { unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { relative, resolve } from 'node:path';

/**
 * Linux's sun_path holds 107 bytes and a NUL. Node 20 truncates a longer path silently (and binds
 * somewhere else); Node 24 and Deno refuse it.
 */
const MAX_SOCKET_PATH = 107;

/** `file` as a socket path: relative to the working directory when that is shorter. */
function socketPath(file: string): string {
  const absolute = resolve(file);
  const rel = relative(process.cwd(), absolute);
  const path = rel.length < absolute.length ? rel : absolute;
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new Error(`the usage journal's lock socket ${absolute} is longer than ${MAX_SOCKET_PATH} bytes: set USAGE_SPILL_DIR to a shorter directory`);
  }
  return path;
}

/**
 * Ownership of files that the kernel gives up when the owner dies, however it dies: a listening
 * Unix socket. A live owner accepts a connection (even stopped, the kernel queues it); once the
 * process has exited (kill -9 included, and while it is still a zombie) its descriptors are
 * closed, so a connection is refused. Node has no flock(), and pid liveness is wrong both for a
 * zombie and for a pid reused by another process. Works the same on Node 20, Node 24 and Deno.
 */
export class OwnerLock {
  private constructor(
    private readonly server: Server,
    private readonly path: string,
  ) {}

  /** Takes the lock at `file` (a path no other owner uses). */
  static async acquire(file: string): Promise<OwnerLock> {
    const path = socketPath(file);
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      // exclusive: a cluster worker binds the socket itself instead of asking the primary to.
      server.listen({ path, exclusive: true }, () => {
        server.off('error', fail);
        done();
      });
    });
    server.unref();
    return new OwnerLock(server, path);
  }

  /**
   * Whether a live process holds the lock at `file`. Only a refused connection or a missing
   * socket means no: any other failure (permissions, a full backlog) counts as held, so files of
   * a live owner are never taken.
   */
  static held(file: string): Promise<boolean> {
    return new Promise((done) => {
      const socket = connect(socketPath(file));
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
    });
  }

  async release(): Promise<void> {
    await new Promise<void>((done) => this.server.close(() => done()));
    await unlink(this.path).catch(() => {});
  }
}
