-- Usage rows partitioned by month of "timestamp" (the layout of migration 0032), so retention drops
-- whole months instead of deleting rows. docs/retention.md has the reasoning.
--
-- The table is converted in place, never copied row by row: the old table is renamed
-- usage_legacy and attached as one partition from MINVALUE to the start of next month (its rows
-- stay where they are; it leaves whole once all of it is past the retention). What a partition
-- needs is built on it first: a primary key that includes the partition key, (id, "timestamp"),
-- the one index this builds. Its other indexes match the parent's (made from their definitions)
-- and are attached as they are. A row dated at or after next month (a clock far ahead) is moved to
-- the partitions made for it. An empty table is simply dropped.
--
-- The statement triggers (rollups, budget settlement) move to the partitioned parent, where
-- PostgreSQL runs them once per statement with the rows of every partition in their transition
-- table, as before. Indexes and triggers are carried over from the catalog rather than listed, so
-- whatever earlier migrations added to the table comes along.
do $$
declare
  bound timestamptz := (date_trunc('month', now() at time zone 'UTC') + interval '1 month') at time zone 'UTC';
  indexes text[];
  triggers text[];
  stmt text;
  r record;
  has_rows boolean;
  later bigint := 0;
begin
  for r in select conname, contype from pg_constraint where conrelid = 'usage'::regclass and contype not in ('p', 'c', 'n') loop
    raise exception 'usage has constraint % of type %, which this conversion does not carry over', r.conname, r.contype;
  end loop;
  select coalesce(array_agg(pg_get_indexdef(indexrelid) order by indexrelid), '{}') into indexes
    from pg_index where indrelid = 'usage'::regclass and not indisprimary;
  select coalesce(array_agg(pg_get_triggerdef(oid) order by tgname), '{}') into triggers
    from pg_trigger where tgrelid = 'usage'::regclass and not tgisinternal;

  alter table usage rename to usage_legacy;
  for r in select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
            where i.indrelid = 'usage_legacy'::regclass and not i.indisprimary loop
    execute format('alter index %I rename to %I', r.relname, regexp_replace(r.relname, '^(usage_)?', 'usage_legacy_'));
  end loop;
  for r in select tgname from pg_trigger where tgrelid = 'usage_legacy'::regclass and not tgisinternal loop
    execute format('drop trigger %I on usage_legacy', r.tgname);
  end loop;
  alter table usage_legacy rename constraint usage_pkey to usage_legacy_id_only;

  create table usage (like usage_legacy including defaults including constraints including storage including comments)
    partition by range ("timestamp");
  alter table usage add constraint usage_pkey primary key (id, "timestamp");
  foreach stmt in array indexes loop
    execute stmt;
  end loop;
  foreach stmt in array triggers loop
    execute stmt;
  end loop;

  select exists (select from usage_legacy) into has_rows;
  if not has_rows then
    drop table usage_legacy;
  else
    create unique index usage_legacy_pkey on usage_legacy (id, "timestamp");
    alter table usage_legacy drop constraint usage_legacy_id_only;
    alter table usage_legacy add constraint usage_legacy_pkey primary key using index usage_legacy_pkey;
    create temp table usage_later on commit drop as select * from usage_legacy where "timestamp" >= bound;
    get diagnostics later = row_count;
    if later > 0 then
      delete from usage_legacy where "timestamp" >= bound;
    end if;
    execute format('alter table usage attach partition usage_legacy for values from (minvalue) to (%L)', bound);
  end if;

  perform gomodel_maintain_partitions('usage', 'timestamp', 'month', 1, 2, null);

  if later > 0 then
    -- Their rollups and budgets already counted them.
    alter table usage disable trigger user;
    insert into usage select * from usage_later;
    alter table usage enable trigger user;
  end if;
end
$$;
