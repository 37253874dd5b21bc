import { envBool, envBytes, envDuration, envInt, envString, type Env } from './env.ts';

/** Everything the gateway reads from its environment, parsed once at start-up. */
export interface Config {
  port: number;
  /** Bearer key for every route but /health*; null runs the gateway open (with a warning). */
  masterKey: string | null;
  bodySizeLimit: number;
  logLevel: string;
  /** Embedded PostgreSQL data and usage spill files live here. */
  dataDir: string;
  postgres: { url: string | null; maxConnections: number };
  usage: { flushIntervalMs: number; bufferSize: number; spillDir: string };
  adminEndpointsEnabled: boolean;
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const dataDir = envString(env, 'GOMODEL_DATA_DIR', './data');
  return Object.freeze({
    port: envInt(env, 'PORT', 8080, 0, 65535),
    masterKey: env.GOMODEL_MASTER_KEY?.trim() || null,
    bodySizeLimit: envBytes(env, 'BODY_SIZE_LIMIT', 10 * 1024 * 1024),
    logLevel: envString(env, 'LOG_LEVEL', 'info'),
    dataDir,
    postgres: { url: env.POSTGRES_URL?.trim() || null, maxConnections: envInt(env, 'POSTGRES_MAX_CONNS', 10, 1) },
    usage: {
      flushIntervalMs: envDuration(env, 'USAGE_FLUSH_INTERVAL', 1000),
      bufferSize: envInt(env, 'USAGE_BUFFER_SIZE', 10_000, 100),
      spillDir: envString(env, 'USAGE_SPILL_DIR', `${dataDir}/usage-spill`),
    },
    adminEndpointsEnabled: envBool(env, 'ADMIN_ENDPOINTS_ENABLED', true),
  });
}
