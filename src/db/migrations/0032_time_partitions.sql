-- Time-partitioned tables keep their data in one partition per day or month, named
-- <table>_pYYYYMMDD or <table>_pYYYYMM, plus a DEFAULT partition that catches rows outside every
-- partition (a journal replayed after a long outage), so an insert never fails for want of one.
-- Old data leaves a whole partition at a time; nothing deletes row by row except the few
-- stragglers in the default partition.
--
-- gomodel_maintain_partitions creates the partitions from `behind` units before now to `ahead`
-- units after it where no partition covers them yet (moving any rows the default partition holds
-- for a new range into it), then
-- drops every partition whose upper bound is older than now - keep (NULL keeps everything).
-- Replicas may call it at the same time: one of them does the work, the others return nothing.
create function gomodel_maintain_partitions(parent regclass, col text, unit text, behind int, ahead int, keep interval)
returns table (created text[], dropped text[]) language plpgsql as $$
declare
  step interval := case unit when 'day' then interval '1 day' when 'month' then interval '1 month' end;
  suffix text := case unit when 'day' then 'YYYYMMDD' when 'month' then 'YYYYMM' end;
  schema text;
  base text;
  fallback text;
  first timestamp;
  lo timestamp;
  name text;
  part record;
  upper_bound timestamptz;
begin
  if step is null then
    raise exception 'unit must be day or month, not %', unit;
  end if;
  created := '{}';
  dropped := '{}';
  if not pg_try_advisory_xact_lock(hashtext('gomodel-ts:partitions'), parent::oid::int) then
    return next;
    return;
  end if;
  select n.nspname, c.relname into schema, base from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = parent;
  fallback := base || '_default';
  if to_regclass(format('%I.%I', schema, fallback)) is null then
    execute format('create table %I.%I partition of %s default', schema, fallback, parent);
    created := created || fallback;
  end if;

  -- Bounds are computed in UTC wall time, so a month is a calendar month whatever the session's zone.
  first := date_trunc(unit, now() at time zone 'UTC') - behind * step;
  for i in 0 .. behind + ahead loop
    lo := first + i * step;
    name := base || '_p' || to_char(lo, suffix);
    continue when to_regclass(format('%I.%I', schema, name)) is not null;
    -- A range another partition already covers (a table converted in place keeps its old rows in one).
    continue when exists (
      select from pg_inherits i join pg_class c on c.oid = i.inhrelid, pg_get_expr(c.relpartbound, c.oid) as b
       where i.inhparent = parent and b <> 'DEFAULT'
         and coalesce((regexp_match(b, 'FROM \(''([^'']+)''\)'))[1]::timestamptz, '-infinity') < (lo + step) at time zone 'UTC'
         and coalesce((regexp_match(b, 'TO \(''([^'']+)''\)'))[1]::timestamptz, 'infinity') > lo at time zone 'UTC');
    -- A partition cannot be added while the default one holds rows of its range: they move first.
    execute format('create table %I.%I (like %s including defaults including constraints)', schema, name, parent);
    execute format('with moved as (delete from %I.%I where %I >= %L and %I < %L returning *) insert into %I.%I select * from moved',
                   schema, fallback, col, lo at time zone 'UTC', col, (lo + step) at time zone 'UTC', schema, name);
    execute format('alter table %s attach partition %I.%I for values from (%L) to (%L)',
                   parent, schema, name, lo at time zone 'UTC', (lo + step) at time zone 'UTC');
    created := created || name;
  end loop;

  if keep is not null then
    for part in
      select c.relname, pg_get_expr(c.relpartbound, c.oid) as bound
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = parent
    loop
      continue when part.bound = 'DEFAULT';
      upper_bound := (regexp_match(part.bound, 'TO \(''([^'']+)''\)'))[1]::timestamptz;
      continue when upper_bound is null or upper_bound > now() - keep;
      execute format('drop table %I.%I', schema, part.relname);
      dropped := dropped || part.relname::text;
    end loop;
    execute format('delete from %I.%I where %I < %L', schema, fallback, col, now() - keep);
  end if;
  return next;
end;
$$;
