import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';
import type { Json } from '../providers/types.ts';
import { REDACTED, type Redactor } from '../redact.ts';
import { auditLine, type AuditEntry } from '../usage/audit-line.ts';
import type { UsageRecorder } from '../usage/recorder.ts';
import { rowId } from '../usage/row-id.ts';
import type { Attribution } from './attribution.ts';
import type { Caller } from './caller.ts';

export interface AuditSettings {
  /** One entry per /v1 and passthrough request (AUDIT_ENABLED). */
  enabled: boolean;
  /** Store request and response bodies (AUDIT_BODIES). */
  bodies: boolean;
  /** A stored body is cut at this many bytes (AUDIT_BODY_MAX_BYTES). */
  bodyMaxBytes: number;
  /** JSON fields and headers whose values are never stored (AUDIT_REDACT_FIELDS), lower case. */
  redactFields: readonly string[];
}

/** Headers that carry credentials, never stored whatever AUDIT_REDACT_FIELDS says. */
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie', 'set-cookie'];
/** A redacted body keeps its JSON shape: the configured fields' string values are replaced where they stand. */
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Bytes read past the cap before redacting, so a secret straddling the cut is still recognised whole. */
const REDACT_SLACK = 1024;

/**
 * The text of one body as stored: at most `max` bytes, configured fields and anything secret-shaped
 * replaced. Redaction runs over the capped text (plus a little), never the whole of a large body.
 */
function capped(bytes: Buffer | string, max: number, scrub: (text: string) => string): { text: string; truncated: boolean } {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const truncated = buf.length > max;
  let text = scrub(buf.subarray(0, truncated ? max + REDACT_SLACK : buf.length).toString('utf8'));
  if (truncated && Buffer.byteLength(text) > max) text = Buffer.from(text).subarray(0, max).toString('utf8');
  return { text, truncated };
}

/** The text of a streamed reply's events, in the order they came (chat chunks, Messages, Responses and Gemini events). */
function deltaText(data: string): string {
  if (data === '[DONE]') return '';
  let o: Record<string, any>;
  try {
    o = JSON.parse(data) as Record<string, any>;
  } catch {
    return '';
  }
  const choice = o.choices?.[0];
  if (choice) return typeof choice.delta?.content === 'string' ? choice.delta.content : '';
  if (o.type === 'content_block_delta') return typeof o.delta?.text === 'string' ? o.delta.text : '';
  if (o.type === 'response.output_text.delta') return typeof o.delta === 'string' ? o.delta : '';
  const parts = o.candidates?.[0]?.content?.parts;
  return Array.isArray(parts) ? parts.map((p: { text?: unknown }) => (typeof p.text === 'string' ? p.text : '')).join('') : '';
}

/** A stream's text as the client received it, assembled from the events the relay already splits, up to the cap. */
export class StreamAssembler {
  private text = '';
  private bytes = 0;
  truncated = false;
  /** Whether the relay passed any event (a passthrough stream is piped, never split, and stores no body). */
  seen = false;
  constructor(private readonly max: number) {}

  push(data: string): void {
    this.seen = true;
    if (this.truncated) return;
    const piece = deltaText(data);
    if (!piece) return;
    this.bytes += Buffer.byteLength(piece);
    this.text += piece;
    if (this.bytes > this.max) this.truncated = true;
  }

  result(): string {
    return JSON.stringify({ object: 'stream', content: this.text });
  }
}

/**
 * What the gateway learns of one request as it goes, made into one audit entry when it ends
 * (`finish`): with its usage row when it has one (the entry rides in the same journal group and
 * database transaction), else when its response is written.
 */
export class AuditTrace {
  readonly id: string;
  readonly started = Date.now();
  private readonly t0 = performance.now();
  written = false;
  caller: Caller | undefined;
  who: Attribution | undefined;
  body: Buffer | undefined;
  stream = false;
  requested: string | null = null;
  /** The route the request was sent to last: provider name and type, model. */
  providerName: string | null = null;
  providerType: string | null = null;
  model: string | null = null;
  /** The model the last attempt was sent to (`model` is what the provider says answered). */
  routeModel: string | null = null;
  status = 0;
  /** Every attempt that failed before the one that ended the request (failover). */
  attempts: Json[] | null = null;
  /** What the client received (a reply object, or the provider's bytes); set only when bodies are stored. */
  response: Record<string, unknown> | Buffer | null = null;
  readonly assembler: StreamAssembler | null;

  constructor(
    private readonly log: AuditLog,
    private readonly req: IncomingMessage,
    readonly requestId: string,
    readonly path: string,
  ) {
    this.id = rowId(this.started);
    this.assembler = log.settings.bodies ? new StreamAssembler(log.settings.bodyMaxBytes) : null;
  }

  /** The provider and model that answered (or failed) last. */
  routed(name: string, type: string, model: string, routeModel = model): void {
    this.providerName = name;
    this.providerType = type;
    this.model = model;
    this.routeModel = routeModel;
  }

  /** A provider call that failed and was moved on from. */
  attempt(name: string, model: string, err: GatewayError): void {
    (this.attempts ??= []).push({ seq: this.attempts.length + 1, provider_name: name, model, success: false, status_code: err.status, error_type: err.type, error_code: err.code ?? null, error_message: err.message });
  }

  /** The entry's line, once: undefined when it was made already. */
  finish(status: number, err?: GatewayError): string | undefined {
    if (this.written) return undefined;
    this.written = true;
    return auditLine(this.log.entry(this, this.req, status || this.status || 200, err, performance.now() - this.t0));
  }
}

/** Makes audit entries of /v1 and passthrough requests and hands them to the usage recorder's journal. */
export class AuditLog {
  private readonly fieldPattern: RegExp | null;
  private readonly hiddenHeaders: Set<string>;

  constructor(
    readonly settings: AuditSettings,
    private readonly redactor: Redactor,
    private readonly recorder: UsageRecorder,
  ) {
    const fields = settings.redactFields.filter(Boolean);
    this.fieldPattern = fields.length ? new RegExp(`"(${fields.map(escape).join('|')})"(\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi') : null;
    this.hiddenHeaders = new Set([...SECRET_HEADERS, ...fields]);
  }

  begin(req: IncomingMessage, requestId: string, path: string): AuditTrace {
    return new AuditTrace(this, req, requestId, path);
  }

  /** Journals the entry of a request that wrote no usage row; resolves once it is in the journal. */
  write(t: AuditTrace, status: number, err?: GatewayError): Promise<void> {
    const line = t.finish(status, err);
    return line === undefined ? Promise.resolve() : this.recorder.recordAudit(line);
  }

  private readonly scrub = (text: string): string => {
    const fields = this.fieldPattern ? text.replace(this.fieldPattern, `"$1"$2"${REDACTED}"`) : text;
    return this.redactor.scrub(fields);
  };

  private headers(req: IncomingMessage): Record<string, string> {
    const out: Record<string, string> = {};
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      out[name] = this.hiddenHeaders.has(name) ? REDACTED : this.redactor.scrub(raw[i + 1]!);
    }
    return out;
  }

  entry(t: AuditTrace, req: IncomingMessage, status: number, err: GatewayError | undefined, ms: number): AuditEntry {
    const { bodies, bodyMaxBytes } = this.settings;
    const who = t.who;
    const request = bodies && t.body?.length ? capped(t.body, bodyMaxBytes, this.scrub) : null;
    let response: { text: string; truncated: boolean } | null = null;
    if (bodies) {
      if (t.stream && t.assembler?.seen) {
        // The assembled text was held to the cap already; its JSON wrapping may take a little more.
        response = capped(t.assembler.result(), bodyMaxBytes + 64, this.scrub);
        if (t.assembler.truncated) response.truncated = true;
      }
      else if (t.response) response = capped(Buffer.isBuffer(t.response) ? t.response : JSON.stringify(t.response), bodyMaxBytes, this.scrub);
    }
    const attempts = t.attempts && [...t.attempts, { seq: t.attempts.length + 1, provider_name: t.providerName, model: t.routeModel, success: !err && status < 400, status_code: status }];
    return {
      id: t.id,
      timestamp: new Date(t.started),
      request_id: t.requestId,
      duration_ns: Math.round(ms * 1e6),
      auth_method: who?.authMethod ?? t.caller?.method ?? null,
      auth_key_id: who?.authKeyId ?? t.caller?.key?.id ?? null,
      client_ip: req.socket.remoteAddress ?? null,
      method: req.method ?? 'GET',
      path: t.path,
      user_path: who?.userPath ?? null,
      requested_model: t.requested,
      resolved_model: t.model,
      provider: t.providerType,
      provider_name: t.providerName,
      status_code: status,
      error_type: err?.type ?? null,
      error_code: err?.code ?? null,
      error_message: err ? this.redactor.scrub(err.message) : null,
      stream: t.stream,
      attempts,
      labels: who?.labels ?? [],
      session_id: who?.sessionId ?? null,
      user_agent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 512) : null,
      request_headers: bodies ? this.headers(req) : null,
      request_body: request?.text ?? null,
      response_body: response?.text ?? null,
      request_body_truncated: request?.truncated ?? false,
      response_body_truncated: response?.truncated ?? false,
    };
  }
}
