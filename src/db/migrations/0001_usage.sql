-- Usage rows, one per request, plus rollups kept current by a statement-level trigger so the
-- analytics endpoints read pre-aggregated buckets instead of scanning the raw table.
--
-- Money is NUMERIC (exact USD); NULL means "no known price", never 0.
-- cache_type is '' for a real provider call, 'exact' or 'semantic' for a gateway cache hit.
-- The input split (uncached / cached read / cache write) is stored, not recomputed per read.

create table usage (
  id                       uuid primary key,
  request_id               text not null,
  provider_id              text not null default '',
  "timestamp"              timestamptz not null,
  model                    text not null,
  provider                 text not null,
  provider_name            text not null,
  endpoint                 text not null,
  user_path                text not null default '/' check (left(user_path, 1) = '/'),
  cache_type               text not null default '' check (cache_type in ('', 'exact', 'semantic')),
  labels                   text[] not null default '{}',
  input_tokens             bigint not null default 0,
  output_tokens            bigint not null default 0,
  total_tokens             bigint not null default 0,
  uncached_input_tokens    bigint not null default 0,
  cached_input_tokens      bigint not null default 0,
  cache_write_input_tokens bigint not null default 0,
  reasoning_tokens         bigint not null default 0,
  raw_data                 jsonb,
  input_cost               numeric,
  output_cost              numeric,
  total_cost               numeric,
  cost_source              text not null default '',
  costs_calculation_caveat text not null default ''
);

-- The log pages newest first and filters while walking this index.
create index usage_timestamp_idx on usage ("timestamp" desc, id desc);
create index usage_model_timestamp_idx on usage (model, "timestamp" desc);
create index usage_request_id_idx on usage (request_id);
create index usage_labels_idx on usage using gin (labels);

-- Rollups by every filterable dimension, at UTC day and UTC hour. A date range in any time zone
-- is answered from whole days, then whole hours at its edges, then raw rows for the sub-hour
-- remainder (time zones with :30 and :45 offsets).
create table usage_rollup_daily (
  bucket                   timestamptz not null,
  user_path                text not null,
  model                    text not null,
  provider                 text not null,
  provider_name            text not null,
  cache_type               text not null,
  requests                 bigint not null,
  input_tokens             bigint not null,
  output_tokens            bigint not null,
  total_tokens             bigint not null,
  uncached_input_tokens    bigint not null,
  cached_input_tokens      bigint not null,
  cache_write_input_tokens bigint not null,
  input_cost               numeric,
  output_cost              numeric,
  total_cost               numeric,
  primary key (bucket, user_path, model, provider, provider_name, cache_type)
);
create table usage_rollup_hourly (like usage_rollup_daily including all);

-- The same per label; a row with N labels counts once under each of them.
create table usage_label_rollup_daily (
  bucket                   timestamptz not null,
  label                    text not null,
  user_path                text not null,
  model                    text not null,
  provider                 text not null,
  provider_name            text not null,
  cache_type               text not null,
  requests                 bigint not null,
  input_tokens             bigint not null,
  output_tokens            bigint not null,
  total_tokens             bigint not null,
  uncached_input_tokens    bigint not null,
  cached_input_tokens      bigint not null,
  cache_write_input_tokens bigint not null,
  input_cost               numeric,
  output_cost              numeric,
  total_cost               numeric,
  primary key (bucket, label, user_path, model, provider, provider_name, cache_type)
);
create table usage_label_rollup_hourly (like usage_label_rollup_daily including all);

-- Per user-path subtree at 15 minutes (every current UTC offset is a multiple of 15 minutes, so
-- local days, weeks and months in any time zone are unions of these buckets). A row at /a/b is
-- counted under '/', '/a' and '/a/b', so a subtree filter is an exact key lookup.
create table usage_subtree_rollup (
  bucket                   timestamptz not null,
  path                     text not null,
  cache_type               text not null,
  requests                 bigint not null,
  input_tokens             bigint not null,
  output_tokens            bigint not null,
  total_tokens             bigint not null,
  uncached_input_tokens    bigint not null,
  cached_input_tokens      bigint not null,
  cache_write_input_tokens bigint not null,
  input_cost               numeric,
  output_cost              numeric,
  total_cost               numeric,
  primary key (path, bucket, cache_type)
);

-- Whole-gateway token totals per minute, for the live throughput chart.
create table usage_minute_totals (
  bucket                   timestamptz not null,
  cache_type               text not null,
  uncached_input_tokens    bigint not null,
  cached_input_tokens      bigint not null,
  cache_write_input_tokens bigint not null,
  output_tokens            bigint not null,
  total_tokens             bigint not null,
  primary key (bucket, cache_type)
);

-- '/a/b' -> {'/', '/a', '/a/b'}
create function gm_path_prefixes(p text) returns text[]
language sql immutable parallel safe as $$
  select array['/'] || coalesce(
    (select array_agg('/' || array_to_string(segs[1:n], '/') order by n)
       from (select string_to_array(substr(p, 2), '/') as segs) s,
            generate_series(1, cardinality(segs)) as n),
    '{}')
$$;

-- NULL + NULL stays NULL (unknown); otherwise unknown parts add nothing, as SUM() does.
create function gm_add_cost(a numeric, b numeric) returns numeric
language sql immutable parallel safe as $$
  select case when a is null then b when b is null then a else a + b end
$$;

-- Rows of a statement are folded into every rollup in one pass per rollup. Groups are upserted
-- in key order so concurrent writers (several gateway replicas) lock rows in the same order.
-- Only rows actually inserted appear in new_rows, so a replayed batch (ON CONFLICT DO NOTHING)
-- is never counted twice.
create function gm_usage_rollup() returns trigger
language plpgsql as $$
begin
  insert into usage_rollup_daily as r
  select date_trunc('day', "timestamp", 'UTC'), user_path, model, provider, provider_name, cache_type,
         count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
         sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
    from new_rows group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
  on conflict (bucket, user_path, model, provider, provider_name, cache_type) do update set
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost);

  insert into usage_rollup_hourly as r
  select date_trunc('hour', "timestamp", 'UTC'), user_path, model, provider, provider_name, cache_type,
         count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
         sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
    from new_rows group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
  on conflict (bucket, user_path, model, provider, provider_name, cache_type) do update set
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost);

  insert into usage_label_rollup_daily as r
  select date_trunc('day', "timestamp", 'UTC'), label, user_path, model, provider, provider_name, cache_type,
         count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
         sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
    from new_rows cross join lateral unnest(labels) as label
   group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7
  on conflict (bucket, label, user_path, model, provider, provider_name, cache_type) do update set
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost);

  insert into usage_label_rollup_hourly as r
  select date_trunc('hour', "timestamp", 'UTC'), label, user_path, model, provider, provider_name, cache_type,
         count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
         sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
    from new_rows cross join lateral unnest(labels) as label
   group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7
  on conflict (bucket, label, user_path, model, provider, provider_name, cache_type) do update set
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost);

  insert into usage_subtree_rollup as r
  select date_bin('15 minutes', "timestamp", timestamptz '2000-01-01 00:00:00+00'), prefix, cache_type,
         count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
         sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
    from new_rows cross join lateral unnest(gm_path_prefixes(user_path)) as prefix
   group by 1, 2, 3 order by 2, 1, 3
  on conflict (path, bucket, cache_type) do update set
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost);

  insert into usage_minute_totals as r
  select date_trunc('minute', "timestamp", 'UTC'), cache_type, sum(uncached_input_tokens), sum(cached_input_tokens),
         sum(cache_write_input_tokens), sum(output_tokens), sum(total_tokens)
    from new_rows group by 1, 2 order by 1, 2
  on conflict (bucket, cache_type) do update set
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens;

  return null;
end
$$;

create trigger usage_rollup after insert on usage
  referencing new table as new_rows
  for each statement execute function gm_usage_rollup();
