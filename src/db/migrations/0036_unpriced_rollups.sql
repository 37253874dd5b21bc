-- Every rollup with costs counts its unpriced provider calls: unpriced_requests is the number of
-- rows of the group with total_cost NULL and cache_type '' (a local-cache hit costs nothing and is
-- not unpriced). Answers say how many requests their cost sums leave out from the same rollups
-- the sums come from, so the count costs what the sums cost (counted from the rows, a 90-day
-- summary read ~500,000 entries of a partial index at 10 M rows) and it outlives the raw rows
-- when retention drops them.
--
-- The rollup trigger of 0009 (extended by 0010) gains the measure in place: its minute groups
-- count the batch's unpriced rows and every upsert but the minute totals' sums and merges them.
-- Only the function's body is replaced; the trigger that calls it stays as it is.
--
-- Stored rows are counted once: the unpriced ones are folded per minute and dimensions (one scan
-- of usage), and every rollup group is set from those: 10 s for 1 M rows (5 % unpriced) on the
-- bench machine, most of it rewriting the rollup rows that have some. Inserts wait for this
-- migration (SHARE lock), so each batch is counted once, by the backfill or by the trigger.

lock table usage in share mode;
-- The folds below hash a few hundred thousand groups; at the default 4 MB they spilled to disk.
set local work_mem = '128MB';

-- The partial index of unpriced rows an unreleased migration 0039 made, if this database has it.
drop index if exists usage_unknown_cost_idx;

do $migration$
declare
  t record;
  src text;
  patched text;
  dims text;
  matches text;
  -- Every rollup holding costs: its bucket over the folded minutes, its dimensions, and the rows
  -- each folded group counts under (one per label, per path prefix, per proper ancestor).
  at_quarter constant text := $q$date_bin('15 minutes', minute, timestamptz '2000-01-01 00:00:00+00')$q$;
  at_hour constant text := $q$date_trunc('hour', minute, 'UTC')$q$;
  at_day constant text := $q$date_trunc('day', minute, 'UTC')$q$;
  by_label constant text := 'cross join lateral unnest(labels) as label';
begin
  -- The trigger's body: each step must change what 0009 and 0010 generate, or nothing is patched.
  select prosrc into src from pg_proc where proname = 'gm_usage_rollup';
  if src is null then
    raise exception 'gm_usage_rollup is missing';
  end if;
  -- 21 upserts (14 hourly and daily cubes of 0009, its 3 quarter-hour ones and the subtree rollup,
  -- 4 cubes of 0010) and the minute totals'; 9 of them list their columns (the 7 hourly ones, the
  -- 2 "below" ones); the others select sums, aliased (0009) or not (0010).
  if (select count(*) from regexp_matches(src, 'gm_add_cost\(r\.total_cost, excluded\.total_cost\)', 'g')) <> 21
     or (select count(*) from regexp_matches(src, 'on conflict', 'g')) <> 22
     or (select count(*) from regexp_matches(src, 'output_cost,\s+total_cost( from|\))', 'g')) <> 9 then
    raise exception 'gm_usage_rollup is not the function migrations 0009 and 0010 made';
  end if;
  patched := src;
  -- Every sum of the measures, aliased (0009) or not (0010), and every column list of them.
  patched := regexp_replace(patched, 'sum\(total_cost\) as total_cost', 'sum(total_cost) as total_cost, sum(unpriced_requests) as unpriced_requests', 'g');
  patched := regexp_replace(patched, 'sum\(total_cost\)(?! as total_cost)', 'sum(total_cost), sum(unpriced_requests)', 'g');
  patched := regexp_replace(patched, 'output_cost,(\s+)total_cost( from|\))', 'output_cost,\1total_cost, unpriced_requests\2', 'g');
  patched := regexp_replace(patched, 'total_cost = gm_add_cost\(r\.total_cost, excluded\.total_cost\)',
                            'total_cost = gm_add_cost(r.total_cost, excluded.total_cost), unpriced_requests = r.unpriced_requests + excluded.unpriced_requests', 'g');
  -- The minute groups of the batch count its unpriced rows (the one sum over new_rows).
  patched := regexp_replace(patched, 'sum\(unpriced_requests\) as unpriced_requests(\s+from new_rows)',
                            $r$count(*) filter (where total_cost is null and cache_type = '') as unpriced_requests\1$r$);
  if (select count(*) from regexp_matches(patched, 'unpriced_requests = r\.unpriced_requests \+ excluded\.unpriced_requests', 'g')) <> 21
     or (select count(*) from regexp_matches(patched, 'total_cost, unpriced_requests( from|\))', 'g')) <> 9
     or (select count(*) from regexp_matches(patched, 'as unpriced_requests\s+from new_rows', 'g')) <> 1
     or (select count(*) from regexp_matches(patched, 'sum\(total_cost\)', 'g'))
        <> (select count(*) from regexp_matches(patched, 'sum\(unpriced_requests\)', 'g')) + 1 then
    raise exception 'gm_usage_rollup did not take the new measure everywhere';
  end if;

  -- The unpriced stored rows, folded as the trigger folds a batch.
  create temporary table unpriced_groups on commit drop as
    select date_trunc('minute', "timestamp", 'UTC') as minute, cache_type, user_path, model, provider, provider_name, labels,
           count(*) as n
      from usage where total_cost is null and cache_type = ''
     group by 1, 2, 3, 4, 5, 6, 7;
  analyze unpriced_groups;

  for t in
    select * from (values
      ('usage_totals_daily', at_day, array[]::text[], ''),
      ('usage_totals_hourly', at_hour, array[]::text[], ''),
      ('usage_model_daily', at_day, array['model', 'provider', 'provider_name'], ''),
      ('usage_model_hourly', at_hour, array['model', 'provider', 'provider_name'], ''),
      ('usage_model_quarter', at_quarter, array['model', 'provider', 'provider_name'], ''),
      ('usage_path_daily', at_day, array['user_path'], ''),
      ('usage_path_hourly', at_hour, array['user_path'], ''),
      ('usage_path_quarter', at_quarter, array['user_path'], ''),
      ('usage_label_daily', at_day, array['label'], by_label),
      ('usage_label_hourly', at_hour, array['label'], by_label),
      ('usage_label_quarter', at_quarter, array['label'], by_label),
      ('usage_path_model_daily', at_day, array['user_path', 'model', 'provider', 'provider_name'], ''),
      ('usage_path_model_hourly', at_hour, array['user_path', 'model', 'provider', 'provider_name'], ''),
      ('usage_label_model_daily', at_day, array['label', 'model', 'provider', 'provider_name'], by_label),
      ('usage_label_model_hourly', at_hour, array['label', 'model', 'provider', 'provider_name'], by_label),
      ('usage_label_path_daily', at_day, array['label', 'user_path'], by_label),
      ('usage_label_path_hourly', at_hour, array['label', 'user_path'], by_label),
      ('usage_path_provider_daily', at_day, array['user_path', 'provider', 'provider_name'], ''),
      ('usage_model_below_daily', at_day, array['path', 'model', 'provider', 'provider_name'],
       'cross join lateral unnest(gm_path_ancestors(user_path)) as path'),
      ('usage_label_below_daily', at_day, array['path', 'label'],
       by_label || ' cross join lateral unnest(gm_path_ancestors(user_path)) as path'),
      ('usage_subtree_rollup', at_quarter, array['path'], 'cross join lateral unnest(gm_path_prefixes(user_path)) as path')
    ) as x(tbl, bucket, dims, explode)
  loop
    execute format('alter table %I add column unpriced_requests bigint not null default 0', t.tbl);
    dims := (select coalesce(string_agg(format(', %I', d), ''), '') from unnest(t.dims) d);
    matches := (select coalesce(string_agg(format(' and r.%1$I = g.%1$I', d), ''), '') from unnest(t.dims) d);
    execute format('update %1$I r set unpriced_requests = g.n
                      from (select %2$s as bucket, cache_type%3$s, sum(n) as n from unpriced_groups %4$s group by %5$s) g
                     where r.bucket = g.bucket and r.cache_type = g.cache_type%6$s',
                   t.tbl, t.bucket, dims, t.explode,
                   (select string_agg(i::text, ', ') from generate_series(1, 2 + cardinality(t.dims)) i), matches);
  end loop;

  execute format('create or replace function gm_usage_rollup() returns trigger language plpgsql as %L', patched);
end
$migration$;
