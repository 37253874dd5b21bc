-- Provider calls whose cost is unknown (no price), so that totals can say how many requests their
-- sums leave out. The rollups hold cost sums but no count of unpriced rows: the count is read from
-- the rows themselves through this partial index, which holds only unpriced provider calls (a small
-- share of the traffic where prices are configured), so its cost follows their number.

create index usage_unknown_cost_idx on usage ("timestamp") include (user_path, model, provider, provider_name)
  where total_cost is null and cache_type = '';
