-- Quarter-hour model and label cubes. In a zone whose offset is not a whole number of hours
-- (Asia/Kolkata, +05:30) a local day starts mid-hour, so a breakdown by model or label read the
-- first and last half hour of its range from raw rows, whose number grows with traffic (at 10 M
-- rows, labels in Kolkata took 2.3x as long as at 1 M). Every UTC offset is a multiple of 15
-- minutes, so these buckets cover such edges exactly. A batch adds few rows to them (its models
-- and labels per quarter hour), so they get a trigger of their own rather than a restatement of
-- the rollup trigger; triggers fire in name order, the same for every writer.

do $migration$
declare
  cube record;
  tbl text;
  keys text;
  groups text;
  statements text := '';
  quarter constant text := $q$date_bin('15 minutes', "timestamp", timestamptz '2000-01-01 00:00:00+00')$q$;
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
      ('model', array['model', 'provider', 'provider_name'], '%s'),
      ('label', array['label'], '%s cross join lateral unnest(labels) as label')
    ) as c(name, dims, source)
  loop
    tbl := format('usage_%s_quarter', cube.name);
    keys := (select string_agg(format(', %I', d), '') from unnest(cube.dims) d);
    groups := (select string_agg(n::text, ', ') from generate_series(1, 2 + cardinality(cube.dims)) n);
    execute format('create table %I (bucket timestamptz not null, cache_type text not null%s, %s,
                    primary key (bucket, cache_type%s)) with (fillfactor = 60)',
      tbl, (select string_agg(format(', %I text not null', d), '') from unnest(cube.dims) d), measures, keys);
    execute format('insert into %I select %s, cache_type%s, %s from %s group by %s',
      tbl, quarter, keys, sums, format(cube.source, 'usage'), groups);
    statements := statements || format('
      insert into %I as r select %s, cache_type%s, %s from %s group by %s order by %s
      on conflict (bucket, cache_type%s) do update set %s;',
      tbl, quarter, keys, sums, format(cube.source, 'new_rows'), groups, groups, keys, merge);
  end loop;

  execute format($f$
    create function gm_usage_quarter_rollup() returns trigger language plpgsql as $body$
    begin
      %s
      return null;
    end
    $body$$f$, statements);
end
$migration$;

-- Only rows actually inserted appear in new_rows, so a replayed batch is never counted twice.
create trigger usage_quarter_rollup after insert on usage
  referencing new table as new_rows
  for each statement execute function gm_usage_quarter_rollup();
