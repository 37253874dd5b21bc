-- One row per request that reached /v1 (or a passthrough route): who sent it, what it asked for,
-- where it went, how it ended; with AUDIT_BODIES the request and response bodies (redacted and
-- capped by the gateway before they are journaled). Rows arrive through the usage journal, in the
-- same transaction as their usage row when they have one, and are inserted idempotently by
-- (id, timestamp): the id is a UUIDv7 whose time is the timestamp, so a replay finds the same key.
--
-- Partitioned by day on "timestamp" (gomodel_maintain_partitions, 0032, makes the days ahead and
-- drops those past AUDIT_RETENTION); the default partition takes rows until the day partitions
-- exist. Every query names a time range, so it reads only that range's partitions.
create table audit_log (
  id uuid not null,
  "timestamp" timestamptz not null,
  request_id text not null,
  duration_ns bigint not null,
  auth_method text,
  auth_key_id uuid,
  client_ip text,
  method text not null,
  path text not null,
  user_path text,
  requested_model text,
  resolved_model text,
  provider text,
  provider_name text,
  status_code int not null,
  error_type text,
  error_code text,
  error_message text,
  stream boolean not null default false,
  attempts jsonb,
  labels text[] not null default '{}',
  session_id text,
  user_agent text,
  request_headers jsonb,
  request_body text,
  response_body text,
  request_body_truncated boolean not null default false,
  response_body_truncated boolean not null default false,
  primary key (id, "timestamp")
) partition by range ("timestamp");

create table audit_log_default partition of audit_log default;

create index audit_log_time_idx on audit_log ("timestamp" desc);
create index audit_log_request_idx on audit_log (request_id);
create index audit_log_session_idx on audit_log (session_id, "timestamp") where session_id is not null;
