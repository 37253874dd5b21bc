import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import type { Client } from '../../generated/client/index.ts';
import { contractClient } from './contract.ts';
import { adminSql, uniqueName, withDatabase } from './postgres.ts';

/** A fresh database cloned from the migrated template; dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const adminUrl = inject('postgresAdminUrl');
  const name = uniqueName('gomodel_test');
  const admin = adminSql(adminUrl);
  await admin.unsafe(`create database ${name} template ${inject('templateDatabase')}`);
  return {
    url: withDatabase(adminUrl, name),
    name,
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export interface TestGateway extends Gateway {
  sql: Sql;
  client: Client;
  spillDir: string;
  stop(): Promise<void>;
}

/** The real gateway on a free port over a fresh database, with the generated client pointed at it. */
export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const db = await createTestDatabase();
  const spillDir = await mkdtemp(join(tmpdir(), 'gomodel-spill-'));
  const config = loadConfig({ PORT: '0', POSTGRES_URL: db.url, USAGE_SPILL_DIR: spillDir, LOG_LEVEL: 'silent', ...env });
  const sql = connect(db.url, 4);
  const gateway = await startGateway(config, { url: db.url, sql }, createLogger(config.logLevel));
  return {
    ...gateway,
    sql,
    spillDir,
    client: contractClient(gateway.url, config.masterKey ?? undefined),
    async stop() {
      await gateway.close();
      await sql.end({ timeout: 1 });
      await db.drop();
      await rm(spillDir, { recursive: true, force: true });
    },
  };
}
