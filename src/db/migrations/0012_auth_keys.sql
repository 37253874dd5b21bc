-- Managed API keys. Only the SHA-256 digest of a secret is stored: secrets are 32 random bytes, so
-- a plain digest cannot be searched back and lets a request be matched by one map lookup. A
-- rotation keeps the replaced secret's digest in `previous_hash` until `previous_expires_at` (its
-- grace period). `last_used_at` is written in batches, never once per request. Every change is
-- announced on the channel `gomodel_auth_keys` so every replica reloads its key table at once.

create table auth_keys (
  id                  uuid primary key default gen_random_uuid(),
  name                text not null,
  description         text not null default '',
  user_path           text not null default '/',
  labels              text[] not null default '{}',
  dashboard_access    boolean not null default false,
  secret_hash         bytea not null unique,
  secret_tail         text not null,
  previous_hash       bytea unique,
  previous_expires_at timestamptz,
  expires_at          timestamptz,
  deactivated_at      timestamptz,
  last_used_at        timestamptz,
  rotated_at          timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
