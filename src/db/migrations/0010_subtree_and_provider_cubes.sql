-- Three daily cubes keyed by what the dashboard filters on, so that a filtered breakdown reads
-- rows bounded by the values it returns rather than by every combination the traffic holds.
-- At 10 M rows "labels of a subtree" read 36,000 rows of usage_label_path_daily (every label of
-- every path below it, each day) and "models of a subtree" 24,000 of usage_path_model_daily; at
-- 1 M rows a third as many, because fewer of the combinations had occurred: the cost grew with
-- rows. These hold one row per (day, subtree, label) or (day, subtree, model), whatever the
-- number of paths below.
--
-- usage_model_below_daily and usage_label_below_daily count each row under every proper ancestor
-- of its user path except '/' (the model and label cubes are the whole gateway): the subtree of
-- P is its rows here plus the rows of P itself in usage_path_model_daily / usage_label_path_daily.
-- Leaving P itself out keeps them small: most traffic sits on leaf paths, so counting it at its
-- own path as well would double the upserts per batch for rows those cubes already have.
--
-- usage_path_provider_daily answers "user paths of one provider" (6 provider rows a path a day
-- instead of a row per model).
--
-- Only daily: the edges of a range in other time zones come from the hourly and quarter-hour cubes
-- that have these dimensions. For user paths that needed one more: usage_path_quarter, as 0009
-- keeps for models and labels. In a zone whose offset is not a whole number of hours
-- (Asia/Kolkata, +05:30) a local day starts mid-hour, and a breakdown by user path read the first
-- half hour of its range from raw rows, whose number grows with traffic (3,075 rows for that half
-- hour at 10 M rows).
--
-- The rollup trigger of 0009 gains four upserts per batch, grouped from the hourly and minute
-- groups it already computes; the trigger is extended in place (its one definition stays in 0009).
-- The daily cubes are filled from the daily cubes already stored, the quarter-hour one from the
-- rows (29 s for 10 M rows on the bench machine).

create table usage_model_below_daily (
  path text not null, cache_type text not null, bucket timestamptz not null,
  model text not null, provider text not null, provider_name text not null,
  requests bigint not null, input_tokens bigint not null, output_tokens bigint not null,
  total_tokens bigint not null, uncached_input_tokens bigint not null, cached_input_tokens bigint not null,
  cache_write_input_tokens bigint not null, input_cost numeric, output_cost numeric, total_cost numeric,
  primary key (path, cache_type, bucket, model, provider, provider_name)
) with (fillfactor = 70);

create table usage_label_below_daily (
  path text not null, cache_type text not null, bucket timestamptz not null, label text not null,
  requests bigint not null, input_tokens bigint not null, output_tokens bigint not null,
  total_tokens bigint not null, uncached_input_tokens bigint not null, cached_input_tokens bigint not null,
  cache_write_input_tokens bigint not null, input_cost numeric, output_cost numeric, total_cost numeric,
  primary key (path, cache_type, bucket, label)
) with (fillfactor = 70);

create table usage_path_provider_daily (
  bucket timestamptz not null, cache_type text not null,
  user_path text not null, provider text not null, provider_name text not null,
  requests bigint not null, input_tokens bigint not null, output_tokens bigint not null,
  total_tokens bigint not null, uncached_input_tokens bigint not null, cached_input_tokens bigint not null,
  cache_write_input_tokens bigint not null, input_cost numeric, output_cost numeric, total_cost numeric,
  primary key (bucket, cache_type, user_path, provider, provider_name)
) with (fillfactor = 70);

create table usage_path_quarter (
  bucket timestamptz not null, cache_type text not null, user_path text not null,
  requests bigint not null, input_tokens bigint not null, output_tokens bigint not null,
  total_tokens bigint not null, uncached_input_tokens bigint not null, cached_input_tokens bigint not null,
  cache_write_input_tokens bigint not null, input_cost numeric, output_cost numeric, total_cost numeric,
  primary key (bucket, cache_type, user_path)
) with (fillfactor = 60);

create index usage_path_provider_daily_provider_idx on usage_path_provider_daily (provider, cache_type, bucket);
create index usage_path_provider_daily_provider_name_idx on usage_path_provider_daily (provider_name, cache_type, bucket);
create index usage_path_provider_daily_subtree_idx on usage_path_provider_daily ((user_path collate "C"), cache_type, bucket);

-- The proper ancestors of a path but '/': '/a/b/c' -> {'/a', '/a/b'}.
create function gm_path_ancestors(p text) returns text[]
language sql immutable parallel safe as $$
  select coalesce(array_agg(prefix order by prefix), '{}')
    from unnest(gm_path_prefixes(p)) as prefix where prefix <> '/' and prefix <> p
$$;

do $migration$
declare
  src text;
  anchor constant text := 'insert into usage_minute_totals as r';
  sums constant text := $m$
    sum(requests), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
    sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)$m$;
  merge constant text := $m$
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost)$m$;
  -- Each new cube's select over a source of hourly (trigger) or daily (fill) groups with the
  -- dimensions of 0009's g_pm / g_lp: %1$s is the source, %2$s its day, %3$s the sums. Ancestors
  -- are computed once per distinct path, as 0009 does for the subtree rollup.
  model_below constant text := $q$
    select %2$s, cache_type, path, model, provider, provider_name, %3$s
      from %1$s g join (select user_path, unnest(gm_path_ancestors(user_path)) as path
                          from (select distinct user_path from %1$s) d) a using (user_path)
     group by 1, 2, 3, 4, 5, 6 order by 3, 2, 1, 4, 5, 6$q$;
  label_below constant text := $q$
    select %2$s, cache_type, path, label, %3$s
      from %1$s g join (select user_path, unnest(gm_path_ancestors(user_path)) as path
                          from (select distinct user_path from %1$s) d) a using (user_path)
     group by 1, 2, 3, 4 order by 3, 2, 1, 4$q$;
  path_provider constant text := $q$
    select %2$s, cache_type, user_path, provider, provider_name, %3$s
      from %1$s g group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5$q$;
  path_quarter constant text := $q$
    select date_bin('15 minutes', %2$s, timestamptz '2000-01-01 00:00:00+00'), cache_type, user_path, %3$s
      from %1$s group by 1, 2, 3 order by 1, 2, 3$q$;
  day_of_hour constant text := $d$date_trunc('day', bucket, 'UTC')$d$;
  ctes text;
begin
  execute format('insert into usage_model_below_daily (bucket, cache_type, path, model, provider, provider_name, requests, input_tokens,
                    output_tokens, total_tokens, uncached_input_tokens, cached_input_tokens, cache_write_input_tokens, input_cost,
                    output_cost, total_cost) %s', format(model_below, 'usage_path_model_daily', 'bucket', sums));
  execute format('insert into usage_label_below_daily (bucket, cache_type, path, label, requests, input_tokens, output_tokens,
                    total_tokens, uncached_input_tokens, cached_input_tokens, cache_write_input_tokens, input_cost, output_cost,
                    total_cost) %s', format(label_below, 'usage_label_path_daily', 'bucket', sums));
  execute format('insert into usage_path_provider_daily %s', format(path_provider, 'usage_path_model_daily', 'bucket', sums));
  -- Stored rows seen through the shape of 0009's minute groups: one "minute" and one request a row.
  execute format('with folded as (select "timestamp" as minute, 1::bigint as requests, * from usage) insert into usage_path_quarter %s',
                 format(path_quarter, 'folded', 'minute', sums));

  ctes := format($c$, usage_model_below_daily as (
        insert into usage_model_below_daily as r (bucket, cache_type, path, model, provider, provider_name, requests, input_tokens,
          output_tokens, total_tokens, uncached_input_tokens, cached_input_tokens, cache_write_input_tokens, input_cost,
          output_cost, total_cost) %1$s
        on conflict (path, cache_type, bucket, model, provider, provider_name) do update set %4$s)
      , usage_label_below_daily as (
        insert into usage_label_below_daily as r (bucket, cache_type, path, label, requests, input_tokens, output_tokens,
          total_tokens, uncached_input_tokens, cached_input_tokens, cache_write_input_tokens, input_cost, output_cost,
          total_cost) %2$s
        on conflict (path, cache_type, bucket, label) do update set %4$s)
      , usage_path_provider_daily as (
        insert into usage_path_provider_daily as r %3$s
        on conflict (bucket, cache_type, user_path, provider, provider_name) do update set %4$s)
      , usage_path_quarter as (
        insert into usage_path_quarter as r %5$s
        on conflict (bucket, cache_type, user_path) do update set %4$s)
      $c$,
    format(model_below, 'g_pm', day_of_hour, sums), format(label_below, 'g_lp', day_of_hour, sums),
    format(path_provider, 'g_pm', day_of_hour, sums), merge, format(path_quarter, 'folded', 'minute', sums));

  select prosrc into src from pg_proc where proname = 'gm_usage_rollup';
  -- The function of 0009 is one statement: a chain of CTEs ending in the minute totals' insert.
  if src is null or array_length(string_to_array(src, anchor), 1) <> 2 then
    raise exception 'gm_usage_rollup is not the function migration 0009 defined';
  end if;
  execute format('create or replace function gm_usage_rollup() returns trigger language plpgsql as %L',
                 replace(src, anchor, ctes || anchor));
end
$migration$;
