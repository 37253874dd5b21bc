-- Who made each request: `auth_method` is master_key, api_key or no_key; `auth_key_id` names the
-- managed key of an api_key request (kept when the key is deleted). The rollups carry no key
-- dimension: usage filtered by key reads the rows of that key through this index.

alter table usage add column auth_key_id uuid, add column auth_method text;

create index usage_auth_key_idx on usage (auth_key_id, "timestamp") where auth_key_id is not null;
