import pino from 'pino';
import { REDACTED, type Redactor } from './redact.ts';

export type Logger = pino.Logger;

/**
 * Structured JSON logs on stdout. With a redactor, every line is scrubbed as it is written, so no
 * configured secret reaches the log whichever field or message carries it; the redact list is a
 * safety net for credential fields that hold values the gateway was not configured with.
 */
export function createLogger(level: string, redactor?: Redactor): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: ['*.authorization', '*.Authorization', '*.apiKey', '*.api_key', 'req.headers.authorization'], censor: REDACTED },
    ...(redactor ? { hooks: { streamWrite: (line: string) => redactor.scrub(line) } } : {}),
  });
}
