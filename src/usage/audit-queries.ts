import type { PendingQuery, Row } from 'postgres';
import { toInt, toMoney, type Sql } from '../db/sql.ts';
import { escapeLike } from '../user-path.ts';
import { rowInputSplit } from './input-split.ts';
import { addDays, DAY, HOUR, localMidnight, todayIn, type CalendarDate, type DateRange } from './dates.ts';

type Fragment = PendingQuery<Row[]>;

export interface AuditFilters {
  requestedModel?: string;
  provider?: string;
  method?: string;
  path?: string;
  userPath?: string;
  sessionId?: string;
  errorType?: string;
  statusCode?: number;
  stream?: boolean;
  search?: string;
}

/** Every column but the bodies and headers: what list entries carry. */
const slimColumns = `a.id, a."timestamp", a.request_id, a.duration_ns, a.auth_method, a.auth_key_id, a.client_ip, a.method, a.path, a.user_path,
  a.requested_model, a.resolved_model, a.provider, a.provider_name, a.status_code, a.error_type, a.error_code, a.error_message, a.stream,
  a.attempts, a.labels, a.session_id, a.user_agent, a.request_body_truncated, a.response_body_truncated`;

/**
 * The usage row of an entry's request, found by request id through usage's request-id index, and
 * bounded in time (a row is written when its request ends, within a day of its start) so a
 * partitioned usage table reads one or two partitions.
 */
const usageJoin = `left join lateral (
    select u.input_tokens, u.output_tokens, u.total_tokens, u.uncached_input_tokens, u.cached_input_tokens, u.cache_write_input_tokens, u.total_cost, u.cache_type
      from usage u
     where lower(u.request_id) collate "C" = lower(a.request_id) collate "C" and u.request_id = a.request_id
       and u."timestamp" >= a."timestamp" - interval '1 minute' and u."timestamp" < a."timestamp" + interval '1 day'
     order by u."timestamp" desc limit 1) u on true`;

/** A stats bucket: its start, and the instant the next one starts. */
export interface Bucket {
  start: number;
  end: number;
}

/**
 * The buckets of a range: hours for ranges up to three days, else days (local midnights in `tz`,
 * so a day across a DST change is 23 or 25 hours), up to the one holding `now`.
 */
export function statsBuckets(range: DateRange, tz: string, now: number): { interval: 'hour' | 'day'; buckets: Bucket[] } {
  const last = Math.min(range.end, now + 1);
  const buckets: Bucket[] = [];
  if (range.end - range.start <= 3 * DAY + 2 * HOUR) {
    for (let t = range.start; t < last; t += HOUR) buckets.push({ start: t, end: Math.min(t + HOUR, range.end) });
    return { interval: 'hour', buckets };
  }
  let day: CalendarDate = todayIn(tz, range.start);
  for (let t = range.start; t < last; ) {
    day = addDays(day, 1);
    const next = localMidnight(day, tz);
    buckets.push({ start: t, end: next });
    t = next;
  }
  return { interval: 'day', buckets };
}

/** Reads of `audit_log` (migration 0033). Every query names its time range, so only that range's day partitions are read. */
export class AuditQueries {
  constructor(private readonly sql: Sql) {}

  private where(range: { start: number; end: number }, f: AuditFilters): Fragment {
    const s = this.sql;
    const like = f.search === undefined ? '' : `%${escapeLike(f.search)}%`;
    return s`a."timestamp" >= ${new Date(range.start)} and a."timestamp" < ${new Date(range.end)}
      ${f.requestedModel !== undefined ? s`and a.requested_model = ${f.requestedModel}` : s``}
      ${f.provider !== undefined ? s`and (a.provider = ${f.provider} or a.provider_name = ${f.provider})` : s``}
      ${f.method !== undefined ? s`and a.method = ${f.method}` : s``}
      ${f.path !== undefined ? s`and a.path = ${f.path}` : s``}
      ${f.userPath !== undefined && f.userPath !== '/' ? s`and (a.user_path = ${f.userPath} or a.user_path like ${`${escapeLike(f.userPath)}/%`})` : s``}
      ${f.sessionId !== undefined ? s`and a.session_id = ${f.sessionId}` : s``}
      ${f.errorType !== undefined ? s`and a.error_type = ${f.errorType}` : s``}
      ${f.statusCode !== undefined ? s`and a.status_code = ${f.statusCode}` : s``}
      ${f.stream !== undefined ? s`and a.stream = ${f.stream}` : s``}
      ${f.search !== undefined
        ? s`and (a.request_id ilike ${`${escapeLike(f.search)}%`} or a.requested_model ilike ${like} or a.resolved_model ilike ${like}
            or a.provider ilike ${like} or a.provider_name ilike ${like} or a.method ilike ${like} or a.path ilike ${like}
            or a.session_id ilike ${like} or a.error_type ilike ${like} or a.error_message ilike ${like})`
        : s``}`;
  }

  /** A page of entries, newest first, with their usage summaries, and how many match. */
  async log(range: DateRange, f: AuditFilters, limit: number, offset: number): Promise<{ rows: Row[]; total: number }> {
    const s = this.sql;
    const where = this.where({ start: range.start, end: range.rowsEnd }, f);
    const [rows, [count]] = await Promise.all([
      s`select ${s.unsafe(slimColumns)}, u.* from (select * from audit_log a where ${where} order by a."timestamp" desc, a.id desc limit ${limit} offset ${offset}) a
        ${s.unsafe(usageJoin)} order by a."timestamp" desc, a.id desc`,
      s`select count(*) as n from audit_log a where ${where}`,
    ]);
    return { rows, total: toInt(count!.n) };
  }

  /**
   * One entry with its bodies. The id is a UUIDv7 holding the entry's millisecond, which bounds the
   * search to that instant's partition.
   */
  async detail(id: string): Promise<Row | undefined> {
    const at = idTime(id);
    if (at === null) return undefined;
    const s = this.sql;
    const [row] = await s`select a.*, u.* from audit_log a ${s.unsafe(usageJoin)}
      where a.id = ${id} and a."timestamp" = ${new Date(at)}`;
    return row;
  }

  /**
   * The entries of an entry's session, oldest first: up to `limit` around the anchor (the half
   * before it, the rest after). An entry without a session is a thread of its own.
   */
  async conversation(anchor: Row, limit: number): Promise<{ rows: Row[]; truncated: boolean }> {
    const s = this.sql;
    if (!anchor.session_id) return { rows: [anchor], truncated: false };
    const at = anchor.timestamp as Date;
    // A session spans at most the retention; reading it whole bounds nothing, so each side is read newest/oldest-first with a limit.
    const before = Math.floor((limit - 1) / 2);
    const [earlier, later] = await Promise.all([
      s`select a.*, u.* from (select * from audit_log a where a.session_id = ${anchor.session_id as string} and (a."timestamp", a.id) < (${at}, ${anchor.id as string}::uuid)
          order by a."timestamp" desc, a.id desc limit ${limit}) a ${s.unsafe(usageJoin)}`,
      s`select a.*, u.* from (select * from audit_log a where a.session_id = ${anchor.session_id as string} and (a."timestamp", a.id) > (${at}, ${anchor.id as string}::uuid)
          order by a."timestamp", a.id limit ${limit}) a ${s.unsafe(usageJoin)}`,
    ]);
    const byTime = (x: Row, y: Row) => (x.timestamp as Date).getTime() - (y.timestamp as Date).getTime() || String(x.id).localeCompare(String(y.id));
    earlier.sort(byTime);
    later.sort(byTime);
    // The anchor's neighbours first: the earlier half, then as many later ones as fit, then more earlier ones.
    const takeLater = Math.min(later.length, limit - 1 - Math.min(before, earlier.length));
    const takeEarlier = Math.min(earlier.length, limit - 1 - takeLater);
    const rows = [...earlier.slice(earlier.length - takeEarlier), anchor, ...later.slice(0, takeLater)];
    return { rows, truncated: takeEarlier < earlier.length || takeLater < later.length };
  }

  /** Threads (a session id, or an entry without one) of the matching entries, the latest active first. */
  async sessions(range: DateRange, f: AuditFilters, limit: number, offset: number) {
    const s = this.sql;
    const where = this.where({ start: range.start, end: range.rowsEnd }, f);
    const [rows, [count]] = await Promise.all([
      s`with t as (
          select coalesce(a.session_id, a.id::text) as thread, count(*)::bigint as request_count, min(a."timestamp") as first_timestamp,
                 max(a."timestamp") as last_timestamp, sum(a.duration_ns)::bigint as total_ns,
                 (array_agg(a.id order by a."timestamp" desc, a.id desc))[1] as latest_id, max(a."timestamp") as latest_at
            from audit_log a where ${where} group by 1
            order by last_timestamp desc, thread limit ${limit} offset ${offset})
        select t.request_count, t.first_timestamp, t.last_timestamp, t.total_ns, ${s.unsafe(slimColumns)}, u.*
          from t join audit_log a on a.id = t.latest_id and a."timestamp" = t.latest_at ${s.unsafe(usageJoin)}
         order by t.last_timestamp desc, t.thread`,
      s`select count(distinct coalesce(a.session_id, a.id::text)) as n from audit_log a where ${where}`,
    ]);
    return { rows, total: toInt(count!.n) };
  }

  /** Entries per bucket by status class, and each provider's successful requests' durations per bucket (percentiles in the database). */
  async stats(buckets: readonly Bucket[]) {
    const s = this.sql;
    if (buckets.length === 0) return { statuses: [] as Row[], latency: [] as Row[] };
    const starts = buckets.map((b) => new Date(b.start).toISOString());
    const range = s`a."timestamp" >= ${new Date(buckets[0]!.start)} and a."timestamp" < ${new Date(buckets[buckets.length - 1]!.end)}`;
    const [statuses, latency] = await Promise.all([
      s`select width_bucket(a."timestamp", ${starts}::timestamptz[]) as i, count(*)::bigint as requests,
          count(*) filter (where a.status_code between 200 and 299)::bigint as s2,
          count(*) filter (where a.status_code between 400 and 499)::bigint as s4,
          count(*) filter (where a.status_code between 500 and 599)::bigint as s5,
          coalesce(sum(a.duration_ns), 0)::bigint as total_ns
        from audit_log a where ${range} group by 1`,
      s`select a.provider_name as provider, width_bucket(a."timestamp", ${starts}::timestamptz[]) as i, count(*)::bigint as requests,
          avg(a.duration_ns) / 1e6 as avg_ms,
          percentile_cont(array[0.5, 0.95, 0.99]) within group (order by a.duration_ns) as pct
        from audit_log a where ${range} and a.status_code between 200 and 299 and a.provider_name is not null
        group by 1, 2`,
    ]);
    return { statuses, latency };
  }
}

/** The millisecond a UUIDv7 holds; null for another kind of UUID. */
export function idTime(id: string): number | null {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** An entry's usage summary, or null when its request wrote no usage row. */
export function usageSummary(r: Row) {
  if (r.total_tokens == null) return null;
  const split = rowInputSplit(r);
  return {
    entries: 1,
    input_tokens: toInt(r.input_tokens),
    output_tokens: toInt(r.output_tokens),
    total_tokens: toInt(r.total_tokens),
    ...split,
    estimated_cached_characters: split.cached_input_tokens * 4,
    total_cost: toMoney(r.total_cost),
  };
}
