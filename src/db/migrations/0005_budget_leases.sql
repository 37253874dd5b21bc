-- Reservations become leases. A gateway process reserves headroom from a budget in advance (one
-- `budget_reservations` row per process and budget: the headroom it still holds) and hands each
-- request its worst case from it locally, going back to the database only to top the lease up.
-- A usage row names its process's lease and the worst case its request took; when the row is
-- inserted, that amount leaves the lease (and the budget's `reserved`) and the actual cost joins
-- `spent`. A lease that stops being renewed (its process died) expires and is given back.

alter table usage add column budget_reserved numeric;

-- Neither is used by any query: label filters read the cubes, id search the trigram index.
drop index usage_labels_idx;
drop index usage_request_id_idx;

create or replace function gm_usage_settle_budgets() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from budgets) then
    return null;
  end if;
  -- Lock in key order, as leases do, so the two never deadlock.
  perform 1 from budgets b
    where b.user_path in (select distinct unnest(gm_path_prefixes(user_path)) from new_rows)
    order by b.user_path, b.period_seconds
    for update;
  with taken as (
    select n.budget_reservation_id as id, p.prefix as user_path, sum(n.budget_reserved) as amount
      from new_rows n cross join lateral unnest(gm_path_prefixes(n.user_path)) as p(prefix)
     where n.budget_reservation_id is not null and n.budget_reserved is not null
     group by 1, 2
  ), released as (
    update budget_reservations r set amount = r.amount - t.amount
      from taken t where r.id = t.id and r.user_path = t.user_path
    returning r.user_path, r.period_seconds, t.amount
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
