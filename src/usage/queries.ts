import type { PendingQuery, Row } from 'postgres';
import { toInt, toMoney, type Sql } from '../db/sql.ts';
import { escapeLike } from '../user-path.ts';
import { addDays, DAY, decompose, formatInZone, HOUR, localMidnight, MINUTE, offsetAt, QUARTER_HOUR, todayIn, type DateRange } from './dates.ts';

export type CacheMode = 'uncached' | 'cached' | 'all';
export type Interval = 'daily' | 'weekly' | 'monthly' | 'yearly';
export type Granularity = 'second' | 'minute' | 'hour' | 'day';

export interface UsageFilters {
  model?: string;
  /** Provider type or configured provider name. */
  provider?: string;
  label?: string;
  /** Normalised user path; the filter matches the path and its descendants. */
  userPath?: string;
  /** Rows of requests made with this managed key. */
  authKeyId?: string;
  /** Rows of requests that named this session. */
  sessionId?: string;
  cacheMode: CacheMode;
  /** Rows whose model, provider or provider name is one of these (a log search). */
  search?: SearchMatches;
}

export interface SearchMatches {
  models: string[];
  providers: string[];
  names: string[];
}

export interface Totals {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  uncached_input_tokens: number;
  cached_input_tokens: number;
  cache_write_input_tokens: number;
  input_cost: number | null;
  output_cost: number | null;
  total_cost: number | null;
}

type Fragment = PendingQuery<Row[]>;

type Dimension = 'model' | 'provider' | 'provider_name' | 'user_path' | 'label' | 'auth_key_id' | 'session_id';

/** The cubes of migration 0003, smallest first: `usage_<name>_daily` and `usage_<name>_hourly`. */
export const cubes: { name: string; dims: readonly Dimension[]; quarterHour?: true }[] = [
  { name: 'totals', dims: [] },
  { name: 'model', dims: ['model', 'provider', 'provider_name'], quarterHour: true },
  { name: 'path', dims: ['user_path'], quarterHour: true },
  { name: 'label', dims: ['label'], quarterHour: true },
  { name: 'path_model', dims: ['user_path', 'model', 'provider', 'provider_name'] },
  { name: 'label_model', dims: ['label', 'model', 'provider', 'provider_name'] },
  { name: 'label_path', dims: ['label', 'user_path'] },
];

/** Daily-only cubes of migration 0010. */
export const dailyCubes: { name: string; dims: readonly Dimension[] }[] = [{ name: 'path_provider', dims: ['user_path', 'provider', 'provider_name'] }];

/**
 * The daily cubes of migration 0010 keyed by a subtree (`path`) instead of a user path: each row
 * counted under every proper ancestor of its path but '/'. `exact` holds the rows of the path itself.
 */
export const belowCubes: { name: string; dims: readonly Dimension[]; exact: string }[] = [
  { name: 'model_below', dims: ['model', 'provider', 'provider_name'], exact: 'path_model' },
  { name: 'label_below', dims: ['label'], exact: 'label_path' },
];

/** Every cube with a daily table, smallest first: the daily-only ones after the four of one dimension. */
const daily = [...cubes.slice(0, 4), ...dailyCubes, ...cubes.slice(4)];

/** Whether a cube has every one of `dims`. */
const covering = (dims: readonly Dimension[]) => (c: { dims: readonly Dimension[] }) => dims.every((d) => c.dims.includes(d));

const intervalUnits: Record<Interval, string> = { daily: 'day', weekly: 'week', monthly: 'month', yearly: 'year' };

const intervalFormats: Record<Interval, string> = {
  daily: 'YYYY-MM-DD',
  weekly: 'IYYY-"W"IW',
  monthly: 'YYYY-MM',
  yearly: 'YYYY',
};

const throughputWindows: Record<Granularity, { size: number; count: number }> = {
  second: { size: 1000, count: 60 },
  minute: { size: MINUTE, count: 60 },
  hour: { size: HOUR, count: 24 },
  day: { size: DAY, count: 30 },
};

/** Sums of the measure columns; a cost stays NULL when no row in the group had one. */
const aggregates = (s: Sql) => s`
  coalesce(sum(requests), 0)::bigint as requests, coalesce(sum(input_tokens), 0)::bigint as input_tokens,
  coalesce(sum(output_tokens), 0)::bigint as output_tokens, coalesce(sum(total_tokens), 0)::bigint as total_tokens,
  coalesce(sum(uncached_input_tokens), 0)::bigint as uncached_input_tokens,
  coalesce(sum(cached_input_tokens), 0)::bigint as cached_input_tokens,
  coalesce(sum(cache_write_input_tokens), 0)::bigint as cache_write_input_tokens,
  sum(input_cost) as input_cost, sum(output_cost) as output_cost, sum(total_cost) as total_cost`;

/** The measure columns every cube and the raw table share. */
const measures = (s: Sql) => s`input_tokens, output_tokens, total_tokens, uncached_input_tokens, cached_input_tokens,
  cache_write_input_tokens, input_cost, output_cost, total_cost`;

function totalsOf(r: Row): Totals {
  return {
    requests: toInt(r.requests),
    input_tokens: toInt(r.input_tokens),
    output_tokens: toInt(r.output_tokens),
    total_tokens: toInt(r.total_tokens),
    uncached_input_tokens: toInt(r.uncached_input_tokens),
    cached_input_tokens: toInt(r.cached_input_tokens),
    cache_write_input_tokens: toInt(r.cache_write_input_tokens),
    input_cost: toMoney(r.input_cost),
    output_cost: toMoney(r.output_cost),
    total_cost: toMoney(r.total_cost),
  };
}

/**
 * `decompose`, or one empty span of raw rows when the range has no instant before its end (it lies
 * wholly in the future): the query keeps its columns and finds no rows.
 */
function spans(start: number, end: number, grains: readonly number[]) {
  const parts = decompose(start, end, grains);
  return parts.length ? parts : [{ grain: null, from: start, to: start }];
}

/**
 * The whole-gateway totals grains no local midnight of the range falls inside: day and hour when
 * the zone is at UTC+0 throughout, hour when its offset is a whole number of hours, none otherwise.
 * Offsets are sampled at both ends of the range and daily between: no zone changes its offset
 * twice in a day.
 */
function totalsGrains(range: DateRange, tz: string): number[] {
  let utc = true;
  for (let t = range.start; ; t += DAY) {
    const offset = offsetAt(Math.min(t, range.end - 1), tz);
    if (offset % HOUR !== 0) return [];
    utc &&= offset === 0;
    if (t >= range.end - 1) return utc ? [DAY, HOUR] : [HOUR];
  }
}

/**
 * Analytics over usage rows. Date-ranged aggregates read the rollups: whole UTC days, whole hours
 * at the edges of the range, raw rows only for what is left (sub-hour edges of time zones with
 * :30/:45 offsets), so their cost follows the number of buckets, not the number of rows.
 */
export class UsageQueries {
  constructor(private readonly sql: Sql) {}

  private subtree(path: string | undefined, column = 'user_path'): Fragment {
    const s = this.sql;
    if (path === undefined || path === '/') return s``;
    const c = s(column);
    // The byte-order range is what the subtree indexes of migration 0007 answer; it also holds
    // siblings such as '/team-x' for '/team', which the second condition drops.
    return s`and ${c} collate "C" >= ${path} and ${c} collate "C" < ${`${path}0`}
      and (${c} = ${path} or ${c} like ${`${escapeLike(path)}/%`})`;
  }

  /** The 15-minute buckets of a user-path subtree (every ancestor is a key of the rollup). */
  private subtreeQuarters(path: string, a: Date, b: Date, mode: CacheMode, lead: Fragment): Fragment {
    const s = this.sql;
    return s`select ${lead}, requests, ${measures(s)} from usage_subtree_rollup
      where path = ${path} and bucket >= ${a} and bucket < ${b} ${this.cache(mode)}`;
  }

  private cache(mode: CacheMode): Fragment {
    const s = this.sql;
    if (mode === 'uncached') return s`and cache_type = ''`;
    if (mode === 'cached') return s`and cache_type <> ''`;
    return s``;
  }

  /** The filters as conditions on a cube or the raw table; `path` replaces the user-path subtree's. */
  private filters(f: UsageFilters, path: Fragment = this.subtree(f.userPath)): Fragment {
    const s = this.sql;
    return s`
      ${f.model !== undefined ? s`and model = ${f.model}` : s``}
      ${f.provider !== undefined ? s`and (provider = ${f.provider} or provider_name = ${f.provider})` : s``}
      ${f.label !== undefined ? s`and label = ${f.label}` : s``}
      ${f.authKeyId !== undefined ? s`and auth_key_id = ${f.authKeyId}` : s``}
      ${f.sessionId !== undefined ? s`and session_id = ${f.sessionId}` : s``}
      ${f.search !== undefined ? s`and ${this.searchMatch(f.search)}` : s``}
      ${path}
      ${this.cache(f.cacheMode)}`;
  }

  /**
   * Rows (the dimensions `groupBy` and the filters need, plus measures) covering the range: whole
   * UTC days from the smallest daily cube that has those dimensions (for a subtree's breakdown by
   * model or label, the cube of rows below it plus its own path's rows), the edges from the hourly
   * one; raw rows for the sub-hour rest, and for the whole range when no cube has every dimension
   * (a label, a user path and a model at once). The range ends at `totalsEnd`: today is one day.
   */
  private rangeSource(range: DateRange, f: UsageFilters, groupBy: readonly Dimension[]): Fragment {
    const s = this.sql;
    const needed = new Set<Dimension>(groupBy);
    if (f.model !== undefined) needed.add('model');
    if (f.provider !== undefined) needed.add('provider').add('provider_name');
    if (f.search !== undefined) needed.add('model').add('provider').add('provider_name');
    if (f.label !== undefined) needed.add('label');
    // No rollup has a key dimension: a key's usage is read from its rows (an index on key and time).
    if (f.authKeyId !== undefined) needed.add('auth_key_id');
    // Nor a session dimension: a session's rows are read through the index of migration 0030.
    if (f.sessionId !== undefined) needed.add('session_id');
    const subtree = f.userPath !== undefined && f.userPath !== '/' ? f.userPath : undefined;
    if (subtree !== undefined) needed.add('user_path');
    const dims = [...needed];
    const cube = cubes.find(covering(dims));
    const columns = s`${dims.length ? s`${s(dims)},` : s``} cache_type`;
    // The sub-hour edges of zones such as Asia/Kolkata come from 15-minute buckets where there
    // are some: the model and label cubes have them, and a total filtered at most by user path
    // reads the subtree rollup. Otherwise they are raw rows.
    const subtreeTotal = groupBy.length === 0 && dims.every((d) => d === 'user_path');
    const grains = cube ? (subtreeTotal || cube.quarterHour ? [DAY, HOUR, QUARTER_HOUR] : [DAY, HOUR]) : [];
    const parts = spans(range.start, range.totalsEnd, grains).map(({ grain, from, to }) => {
      const a = new Date(from);
      const b = new Date(to);
      if (grain === DAY) return this.days(a, b, f, dims, subtree, groupBy.includes('user_path'));
      if (grain === QUARTER_HOUR && subtreeTotal) {
        return this.subtreeQuarters(f.userPath ?? '/', a, b, f.cacheMode, dims.length ? s`path as user_path, cache_type` : s`cache_type`);
      }
      if (grain === QUARTER_HOUR) {
        return s`select ${columns}, requests, ${measures(s)} from ${s(`usage_${cube!.name}_quarter`)}
          where bucket >= ${a} and bucket < ${b} ${this.filters(f)}`;
      }
      if (grain === null) {
        const explode = needed.has('label') ? s`cross join lateral unnest(labels) as label` : s``;
        return s`select ${columns}, 1::bigint as requests, ${measures(s)} from usage ${explode}
          where "timestamp" >= ${a} and "timestamp" < ${b} ${this.filters(f)}`;
      }
      return s`select ${columns}, requests, ${measures(s)} from ${s(`usage_${cube!.name}_hourly`)}
        where bucket >= ${a} and bucket < ${b} ${this.filters(f)}`;
    });
    return parts.reduce((acc, p) => s`${acc} union all ${p}`);
  }

  /** Whole UTC days [a, b) of the rows `rangeSource` needs, from the smallest daily cube that has them. */
  private days(a: Date, b: Date, f: UsageFilters, dims: Dimension[], subtree: string | undefined, byPath: boolean): Fragment {
    const s = this.sql;
    const columns = (path: Fragment) => s`${dims.reduce((acc, d) => s`${acc} ${d === 'user_path' ? path : s`${s(d)},`}`, s``)} cache_type`;
    const read = (table: string, path: Fragment, where: Fragment) =>
      s`select ${columns(path)}, requests, ${measures(s)} from ${s(`usage_${table}_daily`)}
        where bucket >= ${a} and bucket < ${b} ${where} ${this.filters(f, s``)}`;
    const rest = dims.filter((d) => d !== 'user_path');
    if (subtree !== undefined && !byPath && rest.length > 0) {
      const below = belowCubes.find(covering(rest));
      // The subtree is the rows below the path and those of the path itself.
      if (below) {
        return s`${read(below.name, s`path as user_path,`, s`and path = ${subtree}`)}
          union all ${read(below.exact, s`user_path,`, s`and user_path collate "C" = ${subtree}`)}`;
      }
    }
    const cube = daily.find(covering(dims))!;
    return read(cube.name, s`user_path,`, this.subtree(subtree));
  }

  async summary(range: DateRange, f: UsageFilters): Promise<Totals> {
    const s = this.sql;
    const [row] = await s`select ${aggregates(s)} from (${this.rangeSource(range, f, [])}) u`;
    return totalsOf(row!);
  }

  /**
   * The number of provider calls of the range and filters whose cost is unknown, per group of
   * `groupBy` (keyed by its values joined with NUL; '' without groups). The rollups count no
   * unpriced rows: these are read from the rows, through the partial index of migration 0039.
   */
  async unknownCosts(range: DateRange, f: UsageFilters, groupBy: readonly ('model' | 'provider' | 'provider_name' | 'user_path')[] = []): Promise<Map<string, number>> {
    const s = this.sql;
    if (f.cacheMode === 'cached') return new Map();
    const columns = groupBy.length ? s`${s(groupBy)},` : s``;
    const rows = await s`select ${columns} count(*) as n from usage
      where total_cost is null and cache_type = '' and "timestamp" >= ${new Date(range.start)} and "timestamp" < ${new Date(range.totalsEnd)}
      ${this.rowFilters(f)} ${groupBy.length ? s`group by ${s(groupBy)}` : s``}`;
    return new Map(rows.map((r) => [groupBy.map((d) => r[d] as string).join('\0'), toInt(r.n)]));
  }

  async byModel(range: DateRange, f: UsageFilters) {
    const s = this.sql;
    const [rows, unknown] = await Promise.all([
      s`select model, provider, provider_name, ${aggregates(s)}
        from (${this.rangeSource(range, f, ['model', 'provider', 'provider_name'])}) u group by 1, 2, 3 order by 1, 2, 3`,
      this.unknownCosts(range, f, ['model', 'provider', 'provider_name']),
    ]);
    return rows.map((r) => ({
      model: r.model as string,
      provider: r.provider as string,
      provider_name: (r.provider_name as string) || (r.provider as string),
      ...totalsOf(r),
      unknown_cost_requests: unknown.get([r.model, r.provider, r.provider_name].join('\0')) ?? 0,
    }));
  }

  async byUserPath(range: DateRange, f: UsageFilters) {
    const s = this.sql;
    const [rows, unknown] = await Promise.all([
      s`select user_path, ${aggregates(s)} from (${this.rangeSource(range, f, ['user_path'])}) u group by 1 order by 1`,
      this.unknownCosts(range, f, ['user_path']),
    ]);
    return rows.map((r) => ({ user_path: r.user_path as string, ...totalsOf(r), unknown_cost_requests: unknown.get(r.user_path as string) ?? 0 }));
  }

  async byLabel(range: DateRange, f: UsageFilters) {
    const s = this.sql;
    const rows = await s`select label, ${aggregates(s)} from (${this.rangeSource(range, f, ['label'])}) u group by 1 order by 1`;
    return rows.map((r) => ({ label: r.label as string, ...totalsOf(r) }));
  }

  /** Totals per local day, ISO week, month or year, oldest first, only periods with rows. */
  async periods(range: DateRange, f: UsageFilters, interval: Interval, tz: string) {
    const s = this.sql;
    const cols = measures(s);
    const source = this.timedSource(range, f, tz);
    // Grouped by the start of each local period (a cheap truncation per row), formatted once per
    // period. Grouping by bucket first held one aggregate state per 15-minute bucket: 8,640 of
    // them for 90 days of a subtree, which spilled to disk past work_mem.
    const rows = await s`select to_char(p, ${intervalFormats[interval]}) as period, ${aggregates(s)}
      from (select date_trunc(${intervalUnits[interval]}, t at time zone ${tz}) as p, requests, ${cols} from (${source}) u) b
      group by p order by p`;
    return rows.map((r) => ({ date: r.period as string, ...totalsOf(r) }));
  }

  /**
   * Rows with their bucket start (`t`) and measures covering the range, for grouping by local
   * period: buckets no local midnight falls inside (see totalsGrains), raw rows for the rest.
   * Unfiltered or by user path only, the totals and subtree rollups; filtered by model, provider or
   * label, the smallest cube with those dimensions; a key's or a session's usage only its rows.
   */
  private timedSource(range: DateRange, f: UsageFilters, tz: string): Fragment {
    const s = this.sql;
    const cols = measures(s);
    const needed = new Set<Dimension>();
    if (f.model !== undefined) needed.add('model');
    if (f.provider !== undefined) needed.add('provider').add('provider_name');
    if (f.label !== undefined) needed.add('label');
    const path = f.userPath ?? '/';
    const rowsOnly = f.authKeyId !== undefined || f.sessionId !== undefined;
    if (needed.size > 0 && path !== '/') needed.add('user_path');
    const cube = needed.size > 0 && !rowsOnly ? cubes.find(covering([...needed])) : undefined;
    const coarse = rowsOnly || (needed.size > 0 ? !cube : path !== '/') ? [] : totalsGrains(range, tz);
    const quarter = rowsOnly || (needed.size > 0 && !cube?.quarterHour) ? [] : [QUARTER_HOUR];
    const parts = spans(range.start, range.rowsEnd, [...coarse, ...quarter]).map(({ grain, from, to }) => {
      const a = new Date(from);
      const b = new Date(to);
      if (grain === null) {
        const explode = f.label !== undefined ? s`cross join lateral unnest(labels) as label` : s``;
        return s`select "timestamp" as t, 1::bigint as requests, ${cols} from usage ${explode}
          where "timestamp" >= ${a} and "timestamp" < ${b} ${this.filters(f)}`;
      }
      if (cube) {
        const table = grain === DAY ? 'daily' : grain === HOUR ? 'hourly' : 'quarter';
        return s`select bucket as t, requests, ${cols} from ${s(`usage_${cube.name}_${table}`)}
          where bucket >= ${a} and bucket < ${b} ${this.filters(f)}`;
      }
      if (grain === QUARTER_HOUR) return this.subtreeQuarters(path, a, b, f.cacheMode, s`bucket as t`);
      return s`select bucket as t, requests, ${cols} from ${s(grain === DAY ? 'usage_totals_daily' : 'usage_totals_hourly')}
        where bucket >= ${a} and bucket < ${b} ${this.cache(f.cacheMode)}`;
    });
    return parts.reduce((acc, p) => s`${acc} union all ${p}`);
  }

  /**
   * One page of rows, newest first, and the number of rows matching the filters. `search` matches
   * model, provider and provider name anywhere in them, whose matching values are read from the
   * model cube and then looked up by equality (and counted from the cube), or request and provider
   * ids that start with it, through their prefix indexes (migration 0008). Both ignore case.
   */
  async log(range: DateRange, f: UsageFilters, search: string | undefined, limit: number, offset: number) {
    const s = this.sql;
    const base = s`"timestamp" >= ${new Date(range.start)} and "timestamp" < ${new Date(range.rowsEnd)}
      ${this.rowFilters(f)} ${this.cache(f.cacheMode)}`;
    if (!search) {
      const [rows, total] = await Promise.all([
        s`select * from usage where ${base} order by "timestamp" desc, id desc limit ${limit} offset ${offset}`,
        this.summary(range, f).then((t) => t.requests),
      ]);
      return { rows, total };
    }
    const pattern = `%${escapeLike(search)}%`;
    const [found] = await s<{ models: string[] | null; providers: string[] | null; names: string[] | null }[]>`
      select array_agg(distinct model) filter (where model ilike ${pattern}) as models,
             array_agg(distinct provider) filter (where provider ilike ${pattern}) as providers,
             array_agg(distinct provider_name) filter (where provider_name ilike ${pattern}) as names
        from usage_model_daily where bucket >= ${new Date(Math.floor(range.start / DAY) * DAY)} and bucket < ${new Date(range.rowsEnd)}`;
    const matches: SearchMatches = { models: found?.models ?? [], providers: found?.providers ?? [], names: found?.names ?? [] };
    const byDims = matches.models.length + matches.providers.length + matches.names.length > 0 ? this.searchMatch(matches) : null;
    const byIds = s`(${this.startsWith('request_id', search)} or ${this.startsWith('provider_id', search)})`;
    const [rows, fromDims, fromIds] = await Promise.all([
      s`select * from usage where ${base} and (${byDims ? s`${byDims} or ` : s``}${byIds})
        order by "timestamp" desc, id desc limit ${limit} offset ${offset}`,
      byDims ? this.summary(range, { ...f, search: matches }).then((t) => t.requests) : 0,
      s`select count(*) as n from usage where ${base} and ${byIds} ${byDims ? s`and not ${byDims}` : s``}`.then(([r]) => toInt(r!.n)),
    ]);
    return { rows, total: fromDims + fromIds };
  }

  /**
   * Usage per session and user path, the most recently active first, and the number of such pairs.
   * Only rows naming a session are read (the partial index of migration 0030). Requests and tokens
   * count local-cache hits; costs are provider spend, so a hit's row adds no cost.
   */
  async sessions(range: DateRange, f: UsageFilters, limit: number, offset: number) {
    const s = this.sql;
    const where = s`session_id is not null and "timestamp" >= ${new Date(range.start)} and "timestamp" < ${new Date(range.rowsEnd)}
      ${this.rowFilters(f)}`;
    const spend = s`filter (where cache_type = '')`;
    const [rows, [count]] = await Promise.all([
      s`select session_id, user_path, count(*)::bigint as requests,
          coalesce(sum(input_tokens), 0)::bigint as input_tokens, coalesce(sum(output_tokens), 0)::bigint as output_tokens,
          coalesce(sum(total_tokens), 0)::bigint as total_tokens, sum(input_cost) ${spend} as input_cost,
          sum(output_cost) ${spend} as output_cost, sum(total_cost) ${spend} as total_cost
        from usage where ${where}
        group by session_id, user_path order by max("timestamp") desc, session_id, user_path limit ${limit} offset ${offset}`,
      s`select count(*) as n from (select 1 from usage where ${where} group by session_id, user_path) g`,
    ]);
    const entries = rows.map((r) => ({
      session_id: r.session_id as string,
      user_path: r.user_path as string,
      requests: toInt(r.requests),
      input_tokens: toInt(r.input_tokens),
      output_tokens: toInt(r.output_tokens),
      total_tokens: toInt(r.total_tokens),
      input_cost: toMoney(r.input_cost),
      output_cost: toMoney(r.output_cost),
      total_cost: toMoney(r.total_cost),
    }));
    return { entries, total: toInt(count!.n) };
  }

  /**
   * Cache hits per local period and in total (the row with a null period): hits, their tokens and
   * the savings they recorded (known ones summed, unknown ones counted). Only hits' rows are read,
   * through the partial index of migration 0034, which covers them when no filter needs more.
   */
  async cacheOverview(range: DateRange, f: UsageFilters, interval: Interval, tz: string) {
    const s = this.sql;
    const rows = await s`select case when grouping(p) = 0 then to_char(p, ${intervalFormats[interval]}) end as period,
        count(*)::bigint as hits, count(*) filter (where cache_type = 'exact')::bigint as exact_hits,
        count(*) filter (where cache_type = 'semantic')::bigint as semantic_hits,
        coalesce(sum(input_tokens), 0)::bigint as input_tokens, coalesce(sum(output_tokens), 0)::bigint as output_tokens,
        coalesce(sum(total_tokens), 0)::bigint as total_tokens, coalesce(sum(saved_cost), 0) as saved_cost,
        count(*) filter (where saved_cost is null)::bigint as unpriced_hits
      from (select date_trunc(${intervalUnits[interval]}, "timestamp" at time zone ${tz}) as p, cache_type, input_tokens, output_tokens, total_tokens, saved_cost
        from usage where cache_type <> '' and "timestamp" >= ${new Date(range.start)} and "timestamp" < ${new Date(range.rowsEnd)} ${this.rowFilters(f)}) u
      group by grouping sets ((p), ()) order by p nulls last`;
    const periods = rows.map((r) => ({
      date: r.period as string | null,
      hits: toInt(r.hits),
      exact_hits: toInt(r.exact_hits),
      semantic_hits: toInt(r.semantic_hits),
      input_tokens: toInt(r.input_tokens),
      output_tokens: toInt(r.output_tokens),
      total_tokens: toInt(r.total_tokens),
      saved_cost: toMoney(r.saved_cost) ?? 0,
      unpriced_hits: toInt(r.unpriced_hits),
    }));
    const total = periods.find((r) => r.date === null)!;
    return { total, periods: periods.filter((r): r is typeof r & { date: string } => r.date !== null) };
  }

  /** The filters (but the cache mode) as conditions on raw rows; a label is one of a row's labels. */
  private rowFilters(f: UsageFilters): Fragment {
    const s = this.sql;
    return s`
      ${f.model !== undefined ? s`and model = ${f.model}` : s``}
      ${f.provider !== undefined ? s`and (provider = ${f.provider} or provider_name = ${f.provider})` : s``}
      ${f.label !== undefined ? s`and labels @> array[${f.label}]::text[]` : s``}
      ${f.authKeyId !== undefined ? s`and auth_key_id = ${f.authKeyId}` : s``}
      ${f.sessionId !== undefined ? s`and session_id = ${f.sessionId}` : s``}
      ${this.subtree(f.userPath)}`;
  }

  /** `column` starts with `prefix`, ignoring case, as the range its prefix index answers. */
  private startsWith(column: string, prefix: string): Fragment {
    const s = this.sql;
    const c = s`lower(${s(column)}) collate "C"`;
    return s`(${c} >= lower(${prefix}) and ${c} < gm_prefix_end(lower(${prefix})))`;
  }

  private searchMatch(m: SearchMatches): Fragment {
    const s = this.sql;
    return s`(model = any(${m.models}::text[]) or provider = any(${m.providers}::text[]) or provider_name = any(${m.names}::text[]))`;
  }

  /**
   * The trailing, zero-filled token window ending now. Second, minute and hour buckets are aligned
   * to the zone's current offset; day buckets start at each local midnight, so a day that crosses
   * a DST change is 23 or 25 hours long rather than shifting the later buckets by an hour.
   */
  async throughput(granularity: Granularity, tz: string, now: number) {
    const s = this.sql;
    const { size, count } = throughputWindows[granularity];
    const bounds: number[] = [];
    if (granularity === 'day') {
      const today = todayIn(tz, now);
      for (let i = -(count - 1); i <= 1; i++) bounds.push(localMidnight(addDays(today, i), tz));
    } else {
      const off = offsetAt(now, tz);
      const last = Math.floor((now + off) / size) * size - off;
      for (let i = -(count - 1); i <= 1; i++) bounds.push(last + i * size);
    }
    const a = new Date(bounds[0]!);
    const b = new Date(bounds[count]!);
    const sums = s`
      coalesce(sum(uncached_input_tokens + cache_write_input_tokens) filter (where cache_type = ''), 0)::bigint as input_tokens,
      coalesce(sum(output_tokens) filter (where cache_type = ''), 0)::bigint as output_tokens,
      coalesce(sum(cached_input_tokens) filter (where cache_type = ''), 0)::bigint as prompt_cached_tokens,
      coalesce(sum(total_tokens) filter (where cache_type <> ''), 0)::bigint as locally_cached_tokens`;
    const rows =
      granularity === 'second'
        ? await s`select date_trunc('second', "timestamp") as t, ${sums} from usage
            where "timestamp" >= ${a} and "timestamp" < ${b} group by 1`
        : granularity === 'minute'
          ? await s`select bucket as t, ${sums} from usage_minute_totals where bucket >= ${a} and bucket < ${b} group by 1`
          : await s`select bucket as t, ${sums} from usage_subtree_rollup
              where path = '/' and bucket >= ${a} and bucket < ${b} group by 1`;
    const buckets = bounds.slice(0, count).map((start) => ({
      start: formatInZone(start, tz),
      input_tokens: 0,
      output_tokens: 0,
      prompt_cached_tokens: 0,
      locally_cached_tokens: 0,
    }));
    for (const r of rows) {
      const t = (r.t as Date).getTime();
      let i = bounds.findIndex((bound) => bound > t) - 1;
      if (i < 0) i = count - 1;
      const bucket = buckets[i]!;
      bucket.input_tokens += toInt(r.input_tokens);
      bucket.output_tokens += toInt(r.output_tokens);
      bucket.prompt_cached_tokens += toInt(r.prompt_cached_tokens);
      bucket.locally_cached_tokens += toInt(r.locally_cached_tokens);
    }
    return { granularity, bucket_seconds: size / 1000, buckets };
  }
}
