-- Rights are live (docs/rules/realtime.md guarantee 7): what ends a session or takes a right away is announced to every
-- server process, whichever code path (or a DBA in psql) did it, so open WebSockets lose the right at once.
-- depends: 0011_mail_rules

-- One definition of "this session is live", used by every statement that trusts a session (sql/auth.sql
-- session_principal, the bid in sql/auctions.sql): not expired, and a cookie session not idle for longer than
-- idle_seconds. (The account must also be active: those statements join users for that.) Inlined by the planner.
CREATE FUNCTION session_is_live(kind text, expires_at timestamptz, last_seen_at timestamptz,
                                idle_seconds double precision)
RETURNS boolean
LANGUAGE sql STABLE
RETURN expires_at > now() AND (kind = 'bearer' OR last_seen_at > now() - make_interval(secs => idle_seconds));

-- The announcement: a notification on the hub's channel ('events', see sql/realtime.sql) with topic 'rights'
-- and seq 0 (it is not an event: nothing is stored or replayed; a process that missed it re-checks all its
-- sockets when its LISTEN connection is back). The payload names the users whose rights changed, at most 150 per
-- notification (a notification must stay under 8000 bytes), or says "all" (a role's or a claim's change).
-- PostgreSQL delivers it on commit only, and once per identical payload per transaction.
CREATE FUNCTION notify_rights_changed(user_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    chunk uuid[];
BEGIN
    IF user_ids IS NULL THEN
        PERFORM pg_notify('events', '{"topic": "rights", "seq": 0, "payload": {"all": true}}');
        RETURN;
    END IF;
    FOR chunk IN
        SELECT array_agg(u ORDER BY u)
        FROM (SELECT u, (row_number() OVER (ORDER BY u) - 1) / 150 AS n
              FROM (SELECT DISTINCT u FROM unnest(user_ids) AS u WHERE u IS NOT NULL) d) numbered
        GROUP BY n
    LOOP
        PERFORM pg_notify('events', jsonb_build_object('topic', 'rights', 'seq', 0,
                                                       'payload', jsonb_build_object('users', to_jsonb(chunk)))::text);
    END LOOP;
END
$$;

-- Sessions that end: logout, token revocation, "log out everywhere" (password change or reset, deactivation,
-- deletion), expiry clean-up, a user row deleted (ON DELETE CASCADE). One statement may end thousands of
-- sessions (the clean-up): one trigger call per statement, one notification per 150 users.
CREATE FUNCTION sessions_ended_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify_rights_changed(ARRAY(SELECT user_id FROM ended));
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_ended_announce
AFTER DELETE ON sessions
REFERENCING OLD TABLE AS ended
FOR EACH STATEMENT
EXECUTE FUNCTION sessions_ended_announce();

-- A row whose change may take a right away from one user (TG_ARGV[0] names its user column) or from anyone
-- (TG_ARGV[0] = 'all': a role's claims, a claim switched off).
CREATE FUNCTION rights_changed_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed jsonb;
BEGIN
    IF TG_ARGV[0] = 'all' THEN
        PERFORM notify_rights_changed(NULL);
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        changed := to_jsonb(OLD);
    ELSE
        changed := to_jsonb(NEW);
    END IF;
    PERFORM notify_rights_changed(ARRAY[(changed ->> TG_ARGV[0])::uuid]);
    RETURN NULL;
END
$$;

-- Deactivation, deletion (it deactivates), a new role.
CREATE TRIGGER users_rights_changed
AFTER UPDATE OF state, role_id ON users
FOR EACH ROW
WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.role_id IS DISTINCT FROM NEW.role_id)
EXECUTE FUNCTION rights_changed_announce('id');

-- A claim granted to or revoked from one user.
CREATE TRIGGER user_claims_rights_changed
AFTER INSERT OR DELETE ON user_claims
FOR EACH ROW
EXECUTE FUNCTION rights_changed_announce('user_id');

-- Removed from a clinic's staff (active false, or the row deleted, e.g. with its clinic), or no longer its admin.
CREATE TRIGGER staff_rights_changed
AFTER UPDATE OF active, is_admin ON staff
FOR EACH ROW
WHEN (OLD.active IS DISTINCT FROM NEW.active OR OLD.is_admin IS DISTINCT FROM NEW.is_admin)
EXECUTE FUNCTION rights_changed_announce('user_id');

CREATE TRIGGER staff_removed_rights_changed
AFTER DELETE ON staff
FOR EACH ROW
EXECUTE FUNCTION rights_changed_announce('user_id');

-- Rare changes that concern everyone holding a role or a claim.
CREATE TRIGGER role_claims_rights_changed
AFTER INSERT OR DELETE ON role_claims
FOR EACH STATEMENT
EXECUTE FUNCTION rights_changed_announce('all');

CREATE TRIGGER claims_rights_changed
AFTER UPDATE OF active ON claims
FOR EACH ROW
WHEN (OLD.active IS DISTINCT FROM NEW.active)
EXECUTE FUNCTION rights_changed_announce('all');
