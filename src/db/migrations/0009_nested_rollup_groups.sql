-- The rollup trigger groups each batch less. 0006 grouped the batch's minute groups (about one per
-- row at realistic spreads) fourteen times, once per cube and grain. Here the batch is grouped by
-- hour three times (path × model, label × model, label × path); every other cube is grouped from
-- one of those, which are a half to a twentieth of the size, and each daily cube from its hourly
-- groups. Same rollups, same key-ordered upserts, same rows counted once.
--
-- It also keeps quarter-hour model and label cubes. In a zone whose offset is not a whole number
-- of hours (Asia/Kolkata, +05:30) a local day starts mid-hour, so a breakdown by model or label
-- read the first and last half hour of its range from raw rows, whose number grows with traffic
-- (at 10 M rows, labels in Kolkata took 2.3x as long as at 1 M). Every UTC offset is a multiple of
-- 15 minutes, so these buckets cover such edges exactly; they are filled from the rows already
-- stored (47 s for 10 M rows on the bench machine).

do $migration$
declare
  g record;
  cube record;
  tbl text;
  keys text;
  cols text;
  n int;
  ctes text := '';
  quarter constant text := $q$date_bin('15 minutes', minute, timestamptz '2000-01-01 00:00:00+00')$q$;
  measures constant text := $m$
    requests bigint not null, input_tokens bigint not null, output_tokens bigint not null,
    total_tokens bigint not null, uncached_input_tokens bigint not null, cached_input_tokens bigint not null,
    cache_write_input_tokens bigint not null, input_cost numeric, output_cost numeric, total_cost numeric$m$;
  columns constant text := $m$
    requests, input_tokens, output_tokens, total_tokens, uncached_input_tokens,
    cached_input_tokens, cache_write_input_tokens, input_cost, output_cost, total_cost$m$;
  sums constant text := $m$
    sum(requests) as requests, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
    sum(total_tokens) as total_tokens, sum(uncached_input_tokens) as uncached_input_tokens,
    sum(cached_input_tokens) as cached_input_tokens, sum(cache_write_input_tokens) as cache_write_input_tokens,
    sum(input_cost) as input_cost, sum(output_cost) as output_cost, sum(total_cost) as total_cost$m$;
  merge constant text := $m$
    requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens,
    uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
    cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
    input_cost = gm_add_cost(r.input_cost, excluded.input_cost), output_cost = gm_add_cost(r.output_cost, excluded.output_cost),
    total_cost = gm_add_cost(r.total_cost, excluded.total_cost)$m$;
begin
  -- Hourly groups of the batch, each from the smallest source that has its dimensions.
  for g in
    select * from (values
      ('pm', 'folded', array['user_path', 'model', 'provider', 'provider_name']),
      ('lm', 'folded cross join lateral unnest(labels) as label', array['label', 'model', 'provider', 'provider_name']),
      ('lp', 'folded cross join lateral unnest(labels) as label', array['label', 'user_path']),
      ('m', 'g_pm', array['model', 'provider', 'provider_name']),
      ('p', 'g_pm', array['user_path']),
      ('l', 'g_lm', array['label']),
      ('t', 'g_m', array[]::text[])
    ) as x(name, source, dims)
  loop
    cols := (select coalesce(string_agg(format(', %I', d), ''), '') from unnest(g.dims) d);
    n := 2 + cardinality(g.dims);
    ctes := ctes || format(
      ', %I as materialized (select %s as bucket, cache_type%s, %s from %s group by %s)
      ', 'g_' || g.name, case when g.source like 'folded%' then $b$date_trunc('hour', minute, 'UTC')$b$ else 'bucket' end,
      cols, sums, g.source, (select string_agg(i::text, ', ') from generate_series(1, n) i));
  end loop;

  for cube in
    select * from (values
      ('totals', 't', array[]::text[]),
      ('model', 'm', array['model', 'provider', 'provider_name']),
      ('path', 'p', array['user_path']),
      ('label', 'l', array['label']),
      ('path_model', 'pm', array['user_path', 'model', 'provider', 'provider_name']),
      ('label_model', 'lm', array['label', 'model', 'provider', 'provider_name']),
      ('label_path', 'lp', array['label', 'user_path'])
    ) as c(name, grp, dims)
  loop
    keys := (select coalesce(string_agg(format(', %I', d), ''), '') from unnest(cube.dims) d);
    n := 2 + cardinality(cube.dims);
    ctes := ctes || format(
      ', %1$I as (
        insert into %1$I as r select bucket, cache_type%2$s, %3$s from %4$I order by %5$s
        on conflict (bucket, cache_type%2$s) do update set %6$s)
      , %7$I as (
        insert into %7$I as r select date_trunc(''day'', bucket, ''UTC''), cache_type%2$s, %8$s from %4$I group by %5$s order by %5$s
        on conflict (bucket, cache_type%2$s) do update set %6$s)
      ', 'usage_' || cube.name || '_hourly', keys, columns, 'g_' || cube.grp,
      (select string_agg(i::text, ', ') from generate_series(1, n) i), merge, 'usage_' || cube.name || '_daily', sums);
  end loop;

  -- Quarter-hour cubes, grouped from the batch's minute groups; filled first from stored rows
  -- seen through the same shape (one "minute" and one request per row).
  for cube in
    select * from (values
      ('model', 'folded', array['model', 'provider', 'provider_name']),
      ('label', 'folded cross join lateral unnest(labels) as label', array['label'])
    ) as c(name, source, dims)
  loop
    tbl := format('usage_%s_quarter', cube.name);
    keys := (select string_agg(format(', %I', d), '') from unnest(cube.dims) d);
    n := 2 + cardinality(cube.dims);
    cols := (select string_agg(i::text, ', ') from generate_series(1, n) i);
    execute format('create table %I (bucket timestamptz not null, cache_type text not null%s, %s,
                    primary key (bucket, cache_type%s)) with (fillfactor = 60)',
      tbl, (select string_agg(format(', %I text not null', d), '') from unnest(cube.dims) d), measures, keys);
    execute format('with folded as (select "timestamp" as minute, 1::bigint as requests, * from usage)
                    insert into %I select %s, cache_type%s, %s from %s group by %s',
      tbl, quarter, keys, sums, cube.source, cols);
    ctes := ctes || format(
      ', %1$I as (
        insert into %1$I as r select %2$s, cache_type%3$s, %4$s from %5$s group by %6$s order by %6$s
        on conflict (bucket, cache_type%3$s) do update set %7$s)
      ', tbl, quarter, keys, sums, cube.source, cols, merge);
  end loop;

  execute 'drop trigger usage_rollup on usage';
  execute 'drop function gm_usage_rollup()';
  execute format($f$
    create function gm_usage_rollup() returns trigger language plpgsql as $body$
    begin
      with folded as materialized (
        select date_trunc('minute', "timestamp", 'UTC') as minute, cache_type, user_path, model, provider, provider_name, labels,
               count(*) as requests, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
               sum(total_tokens) as total_tokens, sum(uncached_input_tokens) as uncached_input_tokens,
               sum(cached_input_tokens) as cached_input_tokens, sum(cache_write_input_tokens) as cache_write_input_tokens,
               sum(input_cost) as input_cost, sum(output_cost) as output_cost, sum(total_cost) as total_cost
          from new_rows group by 1, 2, 3, 4, 5, 6, 7
      ), subtree as (
        insert into usage_subtree_rollup as r
        select date_bin('15 minutes', minute, timestamptz '2000-01-01 00:00:00+00'), prefix, cache_type, %1$s
          from folded join (select user_path, unnest(gm_path_prefixes(user_path)) as prefix
                              from (select distinct user_path from folded) d) p using (user_path)
         group by 1, 2, 3 order by 2, 1, 3
        on conflict (path, bucket, cache_type) do update set %2$s
      ) %3$s
      insert into usage_minute_totals as r
      select minute, cache_type, sum(uncached_input_tokens), sum(cached_input_tokens),
             sum(cache_write_input_tokens), sum(output_tokens), sum(total_tokens)
        from folded group by 1, 2 order by 1, 2
      on conflict (bucket, cache_type) do update set
        uncached_input_tokens = r.uncached_input_tokens + excluded.uncached_input_tokens,
        cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_input_tokens = r.cache_write_input_tokens + excluded.cache_write_input_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens, total_tokens = r.total_tokens + excluded.total_tokens;
      return null;
    end
    $body$$f$, sums, merge, ctes);
end
$migration$;

create trigger usage_rollup after insert on usage
  referencing new table as new_rows
  for each statement execute function gm_usage_rollup();
