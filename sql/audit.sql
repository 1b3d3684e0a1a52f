-- The audit log: who changed which account, role or claim (docs/rules/users.md, "Roles and claims"). Written by
-- the users area, by login (a password reset) and by the clinic (an invitation's activation); read back by
-- export_user (sql/users.sql).

-- name: insert_audit
INSERT INTO audit_log (actor_id, action, subject, detail)
VALUES (:actor_id, :action, :subject, :detail);
