import type { Row } from 'postgres';
import type {
  AdminAuditLogEntryResponse,
  AuditlogProviderLatencySeries,
  AuditlogRequestStats,
  GetAuditConversationData,
  GetAuditLogData,
  GetAuditLogDetailData,
  GetAuditSessionsData,
  GetAuditStatsData,
} from '../../../generated/types.gen.ts';
import { toInt } from '../../db/sql.ts';
import { invalidRequest, notFound } from '../../errors.ts';
import { AuditQueries, statsBuckets, usageSummary, type AuditFilters } from '../../usage/audit-queries.ts';
import { resolveDateRange, resolveTimeZone } from '../../usage/dates.ts';
import { normalizeUserPath } from '../../user-path.ts';
import { header, type Handler, type HandlerContext } from '../context.ts';

type ListQuery = NonNullable<GetAuditLogData['query']>;

const present = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function filtersOf(q: ListQuery): AuditFilters {
  let userPath: string | undefined;
  if (present(q.user_path) !== undefined) {
    try {
      userPath = normalizeUserPath(q.user_path!) ?? undefined;
    } catch (err) {
      throw invalidRequest(`invalid user_path: ${(err as Error).message}`, 'user_path');
    }
  }
  return {
    requestedModel: present(q.requested_model),
    provider: present(q.provider),
    method: present(q.method),
    path: present(q.path),
    userPath,
    sessionId: present(q.session_id),
    errorType: present(q.error_type),
    statusCode: q.status_code,
    stream: q.stream,
    search: present(q.search),
  };
}

/** A stored body: the JSON value it holds, else its text. */
function body(text: unknown): unknown {
  if (typeof text !== 'string') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** An entry as the API shows it; `full` adds the bodies and request headers. */
function entry(r: Row, full: boolean): AdminAuditLogEntryResponse {
  const ns = toInt(r.duration_ns);
  return {
    id: r.id as string,
    timestamp: (r.timestamp as Date).toISOString(),
    request_id: r.request_id as string,
    duration_ns: ns,
    duration_ms: ns / 1e6,
    auth_method: r.auth_method as string | null,
    auth_key_id: r.auth_key_id as string | null,
    client_ip: r.client_ip as string | null,
    method: r.method as string,
    path: r.path as string,
    user_path: r.user_path as string | null,
    requested_model: r.requested_model as string | null,
    resolved_model: r.resolved_model as string | null,
    provider: r.provider as string | null,
    provider_name: r.provider_name as string | null,
    status_code: r.status_code as number,
    error_type: r.error_type as string | null,
    stream: r.stream as boolean,
    session_id: r.session_id as string | null,
    cache_type: (r.cache_type as string | null) ?? '',
    alias_used: r.requested_model != null && r.resolved_model != null && r.requested_model !== r.resolved_model && !String(r.requested_model).endsWith(`/${String(r.resolved_model)}`),
    bodies_omitted: !full,
    data: {
      user_agent: r.user_agent as string | null,
      labels: r.labels as string[],
      attempts: r.attempts as never,
      error_code: r.error_code as string | null,
      error_message: r.error_message as string | null,
      request_body_too_big_to_handle: r.request_body_truncated as boolean,
      response_body_too_big_to_handle: r.response_body_truncated as boolean,
      ...(full ? { request_headers: r.request_headers as Record<string, string> | null, request_body: body(r.request_body), response_body: body(r.response_body) } : {}),
    },
    ...usageOf(r),
  };
}

const usageOf = (r: Row) => {
  const usage = usageSummary(r);
  return usage ? { usage } : {};
};

export function auditHandlers(queries: AuditQueries, now: () => number = Date.now) {
  const range = (q: { days?: number; start_date?: string; end_date?: string }, tz: string) => resolveDateRange(q, tz, now());
  const zone = (ctx: HandlerContext) => resolveTimeZone(header(ctx, 'x-gomodel-timezone'));

  const getAuditLog: Handler = async (ctx) => {
    const q = ctx.query as ListQuery;
    const limit = q.limit ?? 25;
    const offset = q.offset ?? 0;
    const { rows, total } = await queries.log(range(q, zone(ctx)), filtersOf(q), limit, offset);
    return { body: { entries: rows.map((r) => entry(r, false)), total, limit, offset } };
  };

  const find = async (id: string): Promise<Row> => {
    const row = await queries.detail(id.toLowerCase());
    if (!row) throw notFound(`no audit entry ${id}`, 'audit_entry_not_found', 'log_id');
    return row;
  };

  const getAuditLogDetail: Handler = async (ctx) => {
    const q = ctx.query as GetAuditLogDetailData['query'];
    return { body: entry(await find(q.log_id), true) };
  };

  const getAuditConversation: Handler = async (ctx) => {
    const q = ctx.query as GetAuditConversationData['query'];
    const anchor = await find(q.log_id);
    const { rows, truncated } = await queries.conversation(anchor, q.limit ?? 40);
    return { body: { anchor_id: anchor.id as string, entries: rows.map((r) => entry(r, true)), truncated } };
  };

  const getAuditSessions: Handler = async (ctx) => {
    const q = ctx.query as NonNullable<GetAuditSessionsData['query']>;
    const limit = q.limit ?? 25;
    const offset = q.offset ?? 0;
    const { rows, total } = await queries.sessions(range(q, zone(ctx)), filtersOf(q), limit, offset);
    const sessions = rows.map((r) => ({
      session_id: r.session_id as string | null,
      latest: entry(r, false),
      request_count: toInt(r.request_count),
      first_timestamp: (r.first_timestamp as Date).toISOString(),
      last_timestamp: (r.last_timestamp as Date).toISOString(),
      total_duration_ms: toInt(r.total_ns) / 1e6,
    }));
    return { body: { sessions, total, limit, offset } };
  };

  const getAuditStats: Handler = async (ctx) => {
    const q = ctx.query as NonNullable<GetAuditStatsData['query']>;
    const tz = zone(ctx);
    const { interval, buckets } = statsBuckets(range(q, tz), tz, now());
    if (buckets.length === 0) throw invalidRequest('the date range lies wholly in the future', 'start_date');
    const { statuses, latency } = await queries.stats(buckets);
    const out = buckets.map((b) => ({ start: new Date(b.start).toISOString(), requests: 0, status_2xx: 0, status_4xx: 0, status_5xx: 0, status_other: 0 }));
    let totalNs = 0;
    for (const r of statuses) {
      const b = out[toInt(r.i) - 1];
      if (!b) continue;
      b.requests = toInt(r.requests);
      b.status_2xx = toInt(r.s2);
      b.status_4xx = toInt(r.s4);
      b.status_5xx = toInt(r.s5);
      b.status_other = b.requests - b.status_2xx - b.status_4xx - b.status_5xx;
      totalNs += toInt(r.total_ns);
    }
    const sum = (k: 'requests' | 'status_2xx' | 'status_4xx' | 'status_5xx' | 'status_other') => out.reduce((n, b) => n + b[k], 0);
    const requests = sum('requests');
    const series = new Map<string, Required<AuditlogProviderLatencySeries>>();
    const empty = () => buckets.map(() => null as number | null);
    for (const r of latency) {
      const i = toInt(r.i) - 1;
      if (i < 0 || i >= buckets.length) continue;
      const name = r.provider as string;
      let s = series.get(name);
      if (!s) series.set(name, (s = { provider: name, requests: buckets.map(() => 0), avg_duration_ms: empty(), p50_ms: empty(), p95_ms: empty(), p99_ms: empty() }));
      const pct = (r.pct as number[]).map((ns) => ns / 1e6);
      s.requests[i] = toInt(r.requests);
      s.avg_duration_ms[i] = Number(r.avg_ms);
      s.p50_ms[i] = pct[0]!;
      s.p95_ms[i] = pct[1]!;
      s.p99_ms[i] = pct[2]!;
    }
    const body: AuditlogRequestStats = {
      interval,
      buckets: out,
      summary: {
        requests,
        status_2xx: sum('status_2xx'),
        status_4xx: sum('status_4xx'),
        status_5xx: sum('status_5xx'),
        status_other: sum('status_other'),
        success_rate: requests ? sum('status_2xx') / requests : 0,
        avg_duration_ms: requests ? totalNs / requests / 1e6 : 0,
      },
      provider_latency: [...series.values()].sort((a, b) => a.provider.localeCompare(b.provider)),
    };
    return { body };
  };

  return { getAuditLog, getAuditLogDetail, getAuditConversation, getAuditSessions, getAuditStats };
}
