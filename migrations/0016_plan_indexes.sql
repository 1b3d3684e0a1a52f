-- Indexes the statements' generic plans need once tables grow (tests/test_sql_plans.py; docs/performance.md, "Plans").
-- depends: 0015_account_side_effects

-- list_users_by_role: one role's users, oldest first, keyset on (created_at, id).
CREATE INDEX users_role_created_idx ON users (role_id, created_at, id);

-- delete_expired_sessions: cookie sessions idle too long (expiry already has sessions_expires_at_idx).
CREATE INDEX sessions_idle_idx ON sessions (last_seen_at) WHERE kind = 'cookie';

-- delete_old_sent_mail: sent messages past their retention.
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
