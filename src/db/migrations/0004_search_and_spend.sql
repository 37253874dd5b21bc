-- Log search over ids without a table scan: a trigram index on the two id columns. (Model and
-- provider matches are resolved against the model cube, which has every value, and then looked
-- up by equality.)
create extension if not exists pg_trgm;
create index usage_ids_trgm_idx on usage using gin ((request_id || chr(31) || provider_id) gin_trgm_ops);

-- Spend since an instant, rewritten in PL/pgSQL: as an SQL function its CTE made the planner
-- scan the whole usage table for the (usually empty) raw edge, 27 s at 10 M rows.
create or replace function gm_subtree_spend(p text, since timestamptz) returns numeric
language plpgsql stable as $$
declare
  aligned timestamptz := date_bin('15 minutes', since, timestamptz '2000-01-01 00:00:00+00');
  rolled numeric;
  edge numeric;
begin
  if aligned < since then
    aligned := aligned + interval '15 minutes';
  end if;
  select sum(total_cost) into rolled from usage_subtree_rollup
   where path = p and cache_type = '' and bucket >= aligned;
  if aligned > since then
    select sum(total_cost) into edge from usage
     where "timestamp" >= since and "timestamp" < aligned and cache_type = ''
       and (p = '/' or user_path = p
            or user_path like replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_') || '/%');
  end if;
  return gm_add_cost(rolled, edge);
end
$$;
