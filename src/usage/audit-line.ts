import type { Json } from '../providers/types.ts';
import { END, isoTime, json, labels, linesSelect, NULL, num, str } from './row-line.ts';

/**
 * One audit log entry as stored in `audit_log` (migration 0033). Bodies are already redacted and
 * capped (src/http/audit.ts) when an entry is made; null when AUDIT_BODIES is off.
 */
export interface AuditEntry {
  /** A UUIDv7 whose time is `timestamp`'s millisecond, so (id, timestamp) is the same key on a replay. */
  id: string;
  /** When the request arrived. */
  timestamp: Date;
  request_id: string;
  duration_ns: number;
  auth_method: string | null;
  auth_key_id: string | null;
  client_ip: string | null;
  method: string;
  path: string;
  user_path: string | null;
  requested_model: string | null;
  resolved_model: string | null;
  /** Provider type (`openai`, `anthropic` …). */
  provider: string | null;
  provider_name: string | null;
  status_code: number;
  error_type: string | null;
  error_code: string | null;
  error_message: string | null;
  stream: boolean;
  /** Every provider call of a request that failed over: `[{seq, provider_name, model, success, status_code, error_type, error_message}]`. */
  attempts: Json[] | null;
  labels: string[];
  session_id: string | null;
  user_agent: string | null;
  request_headers: Record<string, string> | null;
  request_body: string | null;
  response_body: string | null;
  request_body_truncated: boolean;
  response_body_truncated: boolean;
}

export const auditColumns = [
  'id', 'timestamp', 'request_id', 'duration_ns', 'auth_method', 'auth_key_id', 'client_ip', 'method', 'path', 'user_path',
  'requested_model', 'resolved_model', 'provider', 'provider_name', 'status_code', 'error_type', 'error_code', 'error_message',
  'stream', 'attempts', 'labels', 'session_id', 'user_agent', 'request_headers', 'request_body', 'response_body',
  'request_body_truncated', 'response_body_truncated',
] as const satisfies readonly (keyof AuditEntry)[];

/**
 * Audit lines share the usage journal and queue with row lines, told apart by a first field of
 * one \x02 (a row line starts with its id; no encoded field starts with \x02).
 */
export const AUDIT_MARK = '\u0002';
const FIELDS = auditColumns.length + 2;
const bool = (v: boolean) => (v ? 't' : 'f');

/** An entry as one line: the marker, its fields in `auditColumns` order, the end mark. */
export function auditLine(e: AuditEntry): string {
  return [
    AUDIT_MARK,
    str(e.id),
    isoTime(e.timestamp),
    str(e.request_id),
    num(e.duration_ns),
    str(e.auth_method),
    str(e.auth_key_id),
    str(e.client_ip),
    str(e.method),
    str(e.path),
    str(e.user_path),
    str(e.requested_model),
    str(e.resolved_model),
    str(e.provider),
    str(e.provider_name),
    num(e.status_code),
    str(e.error_type),
    str(e.error_code),
    str(e.error_message),
    bool(e.stream),
    e.attempts == null ? NULL : json(e.attempts),
    labels(e.labels),
    str(e.session_id),
    str(e.user_agent),
    e.request_headers == null ? NULL : json(e.request_headers),
    str(e.request_body),
    str(e.response_body),
    bool(e.request_body_truncated),
    bool(e.response_body_truncated),
    END,
  ].join('\t');
}

export const isAuditLine = (line: string): boolean => line.charCodeAt(0) === 2;

/** A journal line of an audit entry as is; null when torn. */
export const journaledAuditLine = (line: string): string | null => (line.endsWith(`\t${END}`) && line.split('\t').length === FIELDS ? line : null);

const casts: Record<string, string> = {
  id: 'uuid',
  timestamp: 'timestamptz',
  duration_ns: 'bigint',
  auth_key_id: 'uuid',
  status_code: 'int',
  stream: 'boolean',
  attempts: 'jsonb',
  request_headers: 'jsonb',
  request_body_truncated: 'boolean',
  response_body_truncated: 'boolean',
};

/** Inserts a batch of audit lines bound as `param`; an entry already there (a replay) is skipped. */
export const insertAuditLines = (param = '$1') =>
  `insert into audit_log (${auditColumns.map((c) => `"${c}"`).join(', ')}) ${linesSelect(auditColumns, casts, ['labels'], 1, param)} on conflict do nothing`;
