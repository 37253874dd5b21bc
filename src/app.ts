import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Config } from './config.ts';
import type { Sql } from './db/sql.ts';
import type { Logger } from './log.ts';
import { createAuthenticator } from './http/auth.ts';
import type { Handlers } from './http/context.ts';
import { openaiHandlers } from './http/handlers/openai.ts';
import { systemHandlers } from './http/handlers/system.ts';
import { usageHandlers } from './http/handlers/usage.ts';
import { createHttpServer } from './http/server.ts';
import { UsageQueries } from './usage/queries.ts';
import { UsageRecorder } from './usage/recorder.ts';

export interface Gateway {
  server: Server;
  recorder: UsageRecorder;
  url: string;
  /** Stops accepting connections, waits for in-flight requests, drains usage rows. */
  close(): Promise<void>;
}

/** Wires services and handlers onto a migrated database and starts listening. */
export async function startGateway(config: Readonly<Config>, sql: Sql, log: Logger): Promise<Gateway> {
  if (!config.masterKey) {
    log.warn('GOMODEL_MASTER_KEY is not set: every endpoint, including /admin, is open to anyone who can reach this port');
  }
  const recorder = new UsageRecorder(sql, {
    flushIntervalMs: config.usage.flushIntervalMs,
    flushThreshold: 100,
    bufferSize: config.usage.bufferSize,
    maxBatch: 2000,
    spillDir: config.usage.spillDir,
    probeIntervalMs: 1000,
  }, log);
  recorder.start();

  const handlers = {
    ...systemHandlers(sql),
    ...openaiHandlers(),
    ...usageHandlers(new UsageQueries(sql)),
  } satisfies Handlers;

  const server = await createHttpServer(handlers, {
    log,
    bodySizeLimit: config.bodySizeLimit,
    authenticate: createAuthenticator(config.masterKey),
    adminEnabled: config.adminEndpointsEnabled,
  });
  await new Promise<void>((done) => server.listen(config.port, done));
  const { port } = server.address() as AddressInfo;
  log.info({ port }, 'gomodel-ts listening');

  return {
    server,
    recorder,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
      });
      await recorder.close();
    },
  };
}
