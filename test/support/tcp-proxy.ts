import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy a test controls, to take a server away from the gateway in a moment (PostgreSQL is
 * shared: it is never stopped). `cut()` resets every connection and refuses new ones; `hang()`
 * keeps connections open but drops what they send, as a server that stopped answering;
 * `restore()` resets what is open and forwards again.
 */
export class TcpProxy {
  private mode: 'up' | 'down' | 'hung' = 'up';
  private readonly open = new Set<Socket>();
  private readonly server = createServer((client) => this.accept(client));

  private constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  static async start(target: URL): Promise<TcpProxy> {
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string {
    const u = new URL(url);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }

  private accept(client: Socket): void {
    if (this.mode === 'down') return void client.destroy();
    const upstream = connect(this.targetPort, this.host);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.open.delete(client);
      this.open.delete(upstream);
    };
    for (const s of [client, upstream]) {
      this.open.add(s);
      s.on('close', end);
      s.on('error', end);
    }
    client.on('data', (d: Buffer) => void (this.mode === 'up' && upstream.write(d)));
    upstream.on('data', (d: Buffer) => void (this.mode === 'up' && client.write(d)));
  }

  private resetAll(): void {
    for (const s of this.open) s.destroy();
  }

  cut(): void {
    this.mode = 'down';
    this.resetAll();
  }

  hang(): void {
    this.mode = 'hung';
  }

  restore(): void {
    this.resetAll();
    this.mode = 'up';
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise((done) => this.server.close(done));
  }
}
