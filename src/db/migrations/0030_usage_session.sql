-- The session a request named (X-Session-Id, X-Claude-Code-Session-Id or Session-Id), null when
-- none. The rollups carry no session dimension (sessions are many and short): usage filtered by
-- session, and the per-session breakdown, read the rows that have one through this partial index,
-- which rows without a session (the bulk of the table) do not enter.

alter table usage add column session_id text;

create index usage_session_idx on usage (session_id, "timestamp") where session_id is not null;
