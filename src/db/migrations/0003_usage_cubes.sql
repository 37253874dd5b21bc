-- Narrow rollups ("cubes") replace the two wide ones of 0001. A wide rollup keyed by every
-- dimension compresses the raw table only as much as requests repeat all of their dimensions,
-- which measured at a quarter of the rows; a query then reads a quarter of the table. Each cube
-- here is keyed by the bucket, the cache type and only the dimensions a query groups or filters
-- by, so it holds (buckets × the values of those dimensions) rows whatever the traffic.
-- queries.ts reads from the smallest cube that has the dimensions a query needs; the list of
-- cubes there must match the one below.
--
-- Every cube exists at UTC day and UTC hour. The trigger that maintains them is generated here
-- from the list, once; it is plain SQL at insert time.

drop trigger usage_rollup on usage;
drop function gm_usage_rollup();
drop table usage_rollup_daily, usage_rollup_hourly, usage_label_rollup_daily, usage_label_rollup_hourly;

do $migration$
declare
  cube record;
  grain record;
  tbl text;
  dims text;
  keys text;
  source text;
  select_list text;
  group_list text;
  trigger_body text := '';
  measures constant text := $m$
    requests bigint not null, input_tokens bigint not null, output_tokens bigint not null,
    total_tokens bigint not null, uncached_input_tokens bigint not null, cached_input_tokens bigint not null,
    cache_write_input_tokens bigint not null, input_cost numeric, output_cost numeric, total_cost numeric$m$;
  sums constant text := $m$
    count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(uncached_input_tokens),
    sum(cached_input_tokens), sum(cache_write_input_tokens), sum(input_cost), sum(output_cost), sum(total_cost)$m$;
  merge constant text := $m$
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost)$m$;
begin
  for cube in
    select * from (values
      ('totals', array[]::text[]),
      ('model', array['model', 'provider', 'provider_name']),
      ('path', array['user_path']),
      ('label', array['label']),
      ('path_model', array['user_path', 'model', 'provider', 'provider_name']),
      ('label_model', array['label', 'model', 'provider', 'provider_name']),
      ('label_path', array['label', 'user_path'])
    ) as c(name, dims)
  loop
    dims := (select coalesce(string_agg(format('%I text not null, ', d), ''), '') from unnest(cube.dims) d);
    keys := (select coalesce(string_agg(format(', %I', d), ''), '') from unnest(cube.dims) d);
    select_list := (select coalesce(string_agg(format('%I, ', d), ''), '') from unnest(cube.dims) d);
    -- group by the bucket, the cache type and each dimension, by position
    group_list := (select string_agg(n::text, ', ') from generate_series(1, 2 + cardinality(cube.dims)) n);
    source := case when 'label' = any (cube.dims) then '%s cross join lateral unnest(labels) as label' else '%s' end;
    for grain in select * from (values ('daily', 'day'), ('hourly', 'hour')) as g(name, unit) loop
      tbl := format('usage_%s_%s', cube.name, grain.name);
      execute format('create table %I (bucket timestamptz not null, cache_type text not null, %s %s, primary key (bucket, cache_type%s))',
                     tbl, dims, measures, keys);
      -- rows recorded before this migration
      execute format('insert into %I select date_trunc(%L, "timestamp", ''UTC''), cache_type, %s %s from %s group by %s',
                     tbl, grain.unit, select_list, sums, format(source, 'usage'), group_list);
      trigger_body := trigger_body || format(
        'insert into %I as r select date_trunc(%L, "timestamp", ''UTC''), cache_type, %s %s from %s group by %s order by %s
         on conflict (bucket, cache_type%s) do update set %s;
        ', tbl, grain.unit, select_list, sums, format(source, 'new_rows'), group_list, group_list, keys, merge);
    end loop;
  end loop;

  -- The subtree rollup and the minute totals of 0001, unchanged.
  trigger_body := trigger_body || format($t$
    insert into usage_subtree_rollup as r
    select date_bin('15 minutes', "timestamp", timestamptz '2000-01-01 00:00:00+00'), prefix, cache_type, %s
      from new_rows cross join lateral unnest(gm_path_prefixes(user_path)) as prefix
     group by 1, 2, 3 order by 2, 1, 3
    on conflict (path, bucket, cache_type) do update set %s;

    insert into usage_minute_totals as r
    select date_trunc('minute', "timestamp", 'UTC'), cache_type, sum(uncached_input_tokens), sum(cached_input_tokens),
           sum(cache_write_input_tokens), sum(output_tokens), sum(total_tokens)
      from new_rows group by 1, 2 order by 1, 2
    on conflict (bucket, cache_type) do update set
      uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
      cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
      cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
      output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens;
  $t$, sums, merge);

  execute format($f$
    create function gm_usage_rollup() returns trigger language plpgsql as $body$
    begin
      %s
      return null;
    end
    $body$$f$, trigger_body);
end
$migration$;

-- Only rows actually inserted appear in new_rows, so a replayed batch is never counted twice.
create trigger usage_rollup after insert on usage
  referencing new table as new_rows
  for each statement execute function gm_usage_rollup();
