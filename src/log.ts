import pino from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs on stdout. Secrets never reach them: the redact list is a safety net. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: ['*.authorization', '*.Authorization', '*.apiKey', '*.api_key', 'req.headers.authorization'], censor: '[redacted]' },
  });
}
