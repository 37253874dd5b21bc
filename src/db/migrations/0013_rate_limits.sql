-- Rate limits shared by every replica. A rule caps requests and/or tokens per fixed window of
-- `period_seconds` (windows aligned to the epoch, or to the rule's last reset), or with
-- `period_seconds = 0` the requests in flight at once.
--
-- Windowed rules: `granted` counts requests handed out to processes in advance (each process takes
-- a batch and admits from it locally); it never exceeds `max_requests`, so all replicas together
-- never admit more. `requests` and `tokens` count what was actually admitted and spent; processes
-- add to them in batches. Rows of past windows are deleted by the processes as they go.
--
-- Concurrency rules: each process holds a lease of in-flight slots (`rate_limit_leases`); the sum
-- of unexpired leases never exceeds `max_requests`. A process that stops renewing its leases (it
-- died) loses them when they expire.

create table rate_limits (
  scope          text not null check (scope in ('user_path', 'auth_key')),
  subject        text not null,
  period_seconds integer not null check (period_seconds >= 0),
  max_requests   bigint check (max_requests > 0),
  max_tokens     bigint check (max_tokens > 0),
  source         text not null default 'manual' check (source in ('config', 'manual')),
  last_reset_at  timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  primary key (scope, subject, period_seconds),
  check (max_requests is not null or max_tokens is not null),
  check (period_seconds > 0 or (max_requests is not null and max_tokens is null))
);

create table rate_limit_windows (
  scope          text not null,
  subject        text not null,
  period_seconds integer not null,
  window_start   timestamptz not null,
  granted        bigint not null default 0,
  requests       bigint not null default 0,
  tokens         bigint not null default 0,
  primary key (scope, subject, period_seconds, window_start),
  foreign key (scope, subject, period_seconds) references rate_limits on delete cascade
);

create table rate_limit_leases (
  holder         uuid not null,
  scope          text not null,
  subject        text not null,
  period_seconds integer not null,
  slots          bigint not null,
  in_use         bigint not null default 0,
  expires_at     timestamptz not null,
  primary key (holder, scope, subject, period_seconds),
  foreign key (scope, subject, period_seconds) references rate_limits on delete cascade
);

-- A deleted key takes its rate limits with it (a key's subject is its id as text, so no foreign key).
create function gm_drop_key_rate_limits() returns trigger
language plpgsql as $$
begin
  delete from rate_limits where scope = 'auth_key' and subject = old.id::text;
  if found then
    perform pg_notify('gomodel_rate_limits', 'changed');
  end if;
  return null;
end $$;

create trigger auth_keys_drop_rate_limits after delete on auth_keys
  for each row execute function gm_drop_key_rate_limits();
