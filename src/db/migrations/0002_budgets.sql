-- Budgets per user-path subtree and period, enforced before the provider is paid.
--
-- Each budget row is also its ledger: `spent` is the settled cost of uncached provider calls in
-- the subtree since `period_start` (NULL = no priced usage yet), `reserved` the worst-case cost
-- held by requests in flight. A request reserves against every budget of its path in one
-- statement that locks the rows in key order; its usage row, when inserted, settles it (adds the
-- actual cost to `spent` and gives back the reservation) inside the same insert statement, so
-- settlement happens exactly once. Reservations of a process that died expire.

create table budget_settings (
  singleton            boolean primary key default true check (singleton),
  daily_reset_hour     integer not null default 0 check (daily_reset_hour between 0 and 23),
  daily_reset_minute   integer not null default 0 check (daily_reset_minute between 0 and 59),
  weekly_reset_weekday integer not null default 1 check (weekly_reset_weekday between 0 and 6),
  weekly_reset_hour    integer not null default 0 check (weekly_reset_hour between 0 and 23),
  weekly_reset_minute  integer not null default 0 check (weekly_reset_minute between 0 and 59),
  monthly_reset_day    integer not null default 1 check (monthly_reset_day between 1 and 31),
  monthly_reset_hour   integer not null default 0 check (monthly_reset_hour between 0 and 23),
  monthly_reset_minute integer not null default 0 check (monthly_reset_minute between 0 and 59),
  updated_at           timestamptz not null default now()
);
insert into budget_settings default values;

create table budgets (
  user_path      text not null check (left(user_path, 1) = '/'),
  period_seconds integer not null check (period_seconds > 0),
  amount         numeric not null check (amount > 0),
  source         text not null check (source in ('config', 'manual')),
  last_reset_at  timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  period_start   timestamptz,
  spent          numeric,
  reserved       numeric not null default 0 check (reserved >= 0),
  primary key (user_path, period_seconds)
);

create table budget_reservations (
  id             uuid not null,
  user_path      text not null,
  period_seconds integer not null,
  amount         numeric not null,
  expires_at     timestamptz not null,
  primary key (id, user_path, period_seconds),
  foreign key (user_path, period_seconds) references budgets on delete cascade
);
create index budget_reservations_expiry_idx on budget_reservations (expires_at);

-- The reservation a usage row settles; NULL when no budget applied.
alter table usage add column budget_reservation_id uuid;

-- Cost of uncached provider calls in the subtree of `p` since `since`: whole 15-minute buckets
-- from the subtree rollup, raw rows for the part of the first bucket after `since`.
create function gm_subtree_spend(p text, since timestamptz) returns numeric
language sql stable as $$
  with edge as (
    select date_bin('15 minutes', since, timestamptz '2000-01-01 00:00:00+00') as b
  ), aligned as (
    select case when b = since then b else b + interval '15 minutes' end as a from edge
  )
  select gm_add_cost(
    (select sum(total_cost) from usage_subtree_rollup, aligned
      where path = p and cache_type = '' and bucket >= aligned.a),
    (select sum(total_cost) from usage, aligned
      where cache_type = '' and "timestamp" >= since and "timestamp" < aligned.a
        and (p = '/' or user_path = p
             or user_path like replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_') || '/%')))
$$;

-- Settles the budgets touched by the rows of an insert statement: their cost goes into `spent`
-- (when they fall in the ledger's period) and their reservations are given back.
create function gm_usage_settle_budgets() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from budgets) then
    return null;
  end if;
  -- Lock in key order, as reservations do, so the two never deadlock.
  perform 1 from budgets b
    where b.user_path in (select distinct unnest(gm_path_prefixes(user_path)) from new_rows)
    order by b.user_path, b.period_seconds
    for update;
  with released as (
    delete from budget_reservations r using new_rows n
     where r.id = n.budget_reservation_id
    returning r.user_path, r.period_seconds, r.amount
  ), held as (
    select user_path, period_seconds, sum(amount) as amount from released group by 1, 2
  ), cost as (
    select b.user_path, b.period_seconds, sum(n.total_cost) as amount
      from new_rows n
      cross join lateral unnest(gm_path_prefixes(n.user_path)) as p(prefix)
      join budgets b on b.user_path = p.prefix
     where n.cache_type = '' and b.period_start is not null and n."timestamp" >= b.period_start
     group by 1, 2
  )
  update budgets b
     set spent = gm_add_cost(b.spent, cost.amount),
         reserved = greatest(0, b.reserved - coalesce(held.amount, 0))
    from (select user_path, period_seconds from held union select user_path, period_seconds from cost) k
    left join held using (user_path, period_seconds)
    left join cost using (user_path, period_seconds)
   where b.user_path = k.user_path and b.period_seconds = k.period_seconds;
  return null;
end
$$;

create trigger usage_settle_budgets after insert on usage
  referencing new table as new_rows
  for each statement execute function gm_usage_settle_budgets();
