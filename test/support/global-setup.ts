import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { connect } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { adminSql, answers, uniqueName, withDatabase } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server where tests may create databases. */
    postgresAdminUrl: string;
    /** A migrated database each test file clones (CREATE DATABASE … TEMPLATE). */
    templateDatabase: string;
  }
}

/**
 * Picks a PostgreSQL server: TEST_POSTGRES_URL or POSTGRES_URL when set, else the one on
 * 127.0.0.1:5432 when it answers, else an embedded one. Creates a migrated template database that
 * every test file clones, and drops it at the end.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_POSTGRES_URL || process.env.POSTGRES_URL || '';
  let stopEmbedded: (() => Promise<void>) | undefined;
  let embeddedDir: string | undefined;
  if (!adminUrl) {
    const local = 'postgres://postgres@127.0.0.1:5432/postgres';
    if (await answers(local)) adminUrl = local;
    else {
      embeddedDir = await mkdtemp(join(tmpdir(), 'gomodel-test-pg-'));
      await chmod(embeddedDir, 0o755); // the cluster may run as the postgres user
      const embedded = await startEmbeddedPostgres(embeddedDir, createLogger('warn'));
      adminUrl = embedded.url;
      stopEmbedded = embedded.stop;
    }
  }
  const template = uniqueName('gomodel_test_template');
  const admin = adminSql(adminUrl);
  await admin.unsafe(`create database ${template}`);
  const sql = connect(withDatabase(adminUrl, template), 1);
  await migrate(sql);
  await sql.end();

  project.provide('postgresAdminUrl', adminUrl);
  project.provide('templateDatabase', template);

  return async () => {
    await admin.unsafe(`drop database if exists ${template} with (force)`);
    await admin.end();
    await stopEmbedded?.();
    if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true });
  };
}
