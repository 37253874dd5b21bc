/** `npm run migrate`: applies pending migrations to POSTGRES_URL (or the embedded database) and exits. */
import { configuredSecrets, loadConfig } from './config.ts';
import { openDatabase } from './db/open.ts';
import { createLogger } from './log.ts';
import { Redactor } from './redact.ts';

const config = loadConfig();
const log = createLogger(config.logLevel, new Redactor(configuredSecrets(config)));
const db = await openDatabase(config, log);
await db.close();
log.info('migrations up to date');
