-- Providers configured through the admin API (/admin/provider-credentials). The keys are never
-- stored in the clear: `secret` is the JSON array of keys sealed with AES-256-GCM under
-- GOMODEL_CREDENTIALS_KEY (12-byte nonce, ciphertext, 16-byte tag), the provider's name bound in
-- as associated data so a sealed value cannot be moved to another row. `key_hints` holds what the
-- API shows of each key (first three and last four characters of a long key), so listing needs
-- no decryption. Every change is announced on `gomodel_provider_credentials`, and every replica
-- registers or drops the provider at once.

create table provider_credentials (
  name       text primary key,
  type       text not null,
  base_url   text not null default '',
  models     text[] not null default '{}',
  enabled    boolean not null default true,
  secret     bytea not null,
  key_hints  text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
