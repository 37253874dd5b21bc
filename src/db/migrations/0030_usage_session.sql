-- The session a request named (X-Session-Id, X-Claude-Code-Session-Id or Session-Id), null when
-- none. The rollups carry no session dimension (sessions are many and short): usage filtered by
-- session reads that session's rows through the first partial index; the per-session breakdown
-- reads the range's rows that name a session through the second. Rows without a session (the bulk
-- of the table) enter neither.

alter table usage add column session_id text;

create index usage_session_idx on usage (session_id, "timestamp") where session_id is not null;
create index usage_session_time_idx on usage ("timestamp") where session_id is not null;
