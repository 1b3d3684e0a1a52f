DROP INDEX outbox_sent_at_idx;
DROP INDEX sessions_idle_idx;
DROP INDEX users_role_created_idx;
