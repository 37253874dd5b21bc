-- Failover rules managed through the admin API (rules from the configuration live in memory only
-- and are never stored). A rule names the model a request asks for and the models to try, in
-- order, when it cannot be answered. Every change is announced on the channel `gomodel_failover`
-- so every replica reloads its rules at once.

create table failover_rules (
  primary_model   text primary key check (primary_model <> ''),
  fallback_models text[] not null,
  enabled         boolean not null default true,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);
