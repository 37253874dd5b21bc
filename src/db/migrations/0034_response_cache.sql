-- The exact response cache (src/cache/): one row per cached reply, shared by every replica.
-- `key` is the SHA-256 of the cache scope, endpoint, resolved provider and model and the canonical
-- request body (src/cache/key.ts). A hit is one primary-key lookup; expiry and the size bound are
-- kept by a periodic sweep (expired rows, then the least recently hit past CACHE_MAX_BYTES), through
-- the two indexes below. `body` is the reply as the client received it: JSON, or a stream's events.
create table response_cache (
  key bytea primary key,
  endpoint text not null,
  provider_name text not null,
  model text not null,
  stream boolean not null,
  body bytea not null,
  -- The model and response id the provider reported, and its TokenUsage: a hit's usage row is made of them.
  reported_model text not null,
  provider_id text not null,
  usage jsonb,
  bytes integer not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  last_hit_at timestamptz not null default now()
);
create index response_cache_expires_idx on response_cache (expires_at);
create index response_cache_last_hit_idx on response_cache (last_hit_at);

-- What a cache hit's reply would have cost at the prices of when it was served (NULL: unknown).
-- Hits cost nothing themselves (their cost columns are 0), so their savings live here, read by
-- /admin/cache/overview from the hits' rows alone through the partial covering index.
alter table usage add column saved_cost numeric;
create index usage_cache_hits_idx on usage ("timestamp")
  include (cache_type, input_tokens, output_tokens, total_tokens, saved_cost) where cache_type <> '';
