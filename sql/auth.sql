-- Sessions (browser cookies) and bearer tokens, password resets.
-- Tokens arrive hashed (:token_hash is the SHA-256 of the random token); the raw token is never stored.

-- name: create_session
-- A new cookie session or bearer token for a user; returns when it expires.
INSERT INTO sessions (token_hash, user_id, kind, expires_at)
VALUES (:token_hash, :user_id, :kind, now() + make_interval(secs => :ttl_seconds))
RETURNING expires_at;

-- name: session_principal
-- The caller of a request: the user behind a live session or token (:token_hash), with role and effective claims
-- and the session's hash (view `principals`, migration 0019_cpu_cost; the hash is never sent to a client). "Live" is
-- session_is_live() (migration 0012) and an active account, checked on every request: nothing is cached. Using a
-- session refreshes its idle timer at most once a minute (or every tenth of the idle timeout, when that is
-- shorter), so a busy client does not write on every request and a client that keeps using its session is never
-- idle-expired. One indexed look-up (sessions_pkey), with one scalar parameter: the cheapest form for the path
-- every authenticated request takes (docs/performance.md, "Cost of authentication").
WITH touched AS (
    UPDATE sessions SET last_seen_at = now()
    WHERE token_hash = :token_hash
      AND session_is_live(kind, expires_at, last_seen_at, :idle_seconds)
      AND last_seen_at < now() - least(interval '60 seconds', make_interval(secs => :idle_seconds / 10.0))
)
SELECT id, email, name, role_id, role_description, session_kind, claims, session_hash
FROM principals
WHERE session_hash = :token_hash
  AND session_is_live(session_kind, expires_at, last_seen_at, :idle_seconds);

-- name: live_principals
-- Of the sessions :token_hashes (the sockets' rights re-check, docs/rules/realtime.md guarantee 7), the live ones
-- with their principal now, as session_principal; those in :touch_hashes are in use and get their idle timer
-- refreshed the same way.
WITH touched AS (
    UPDATE sessions SET last_seen_at = now()
    WHERE token_hash = ANY(:touch_hashes::bytea[])
      AND session_is_live(kind, expires_at, last_seen_at, :idle_seconds)
      AND last_seen_at < now() - least(interval '60 seconds', make_interval(secs => :idle_seconds / 10.0))
)
SELECT id, email, name, role_id, role_description, session_kind, claims, session_hash
FROM principals
WHERE session_hash = ANY(:token_hashes::bytea[])
  AND session_is_live(session_kind, expires_at, last_seen_at, :idle_seconds);

-- name: end_session
-- Logout, revocation, a login replacing the browser's session: deletes one session and says whose it was and
-- whether it was the user's last live one (live as in session_principal). This statement's snapshot still
-- holds the deleted row, hence the token filter. No row: no such session.
WITH gone AS (
    DELETE FROM sessions WHERE token_hash = :token_hash RETURNING user_id
)
SELECT g.user_id,
       NOT EXISTS (SELECT 1 FROM sessions s
                   WHERE s.user_id = g.user_id AND s.token_hash <> :token_hash AND s.expires_at > now()
                     AND (s.kind = 'bearer' OR s.last_seen_at > now() - make_interval(secs => :idle_seconds)))
           AS last
FROM gone g;

-- name: delete_user_sessions
-- Logout everywhere: password change or reset, deactivation, deletion.
DELETE FROM sessions WHERE user_id = :user_id;

-- name: delete_expired_sessions
-- Expired and idle-expired sessions go; returns the users this left without a live session (the snapshot
-- still holds the deleted rows, but none of them is live). One look-up per user of a deleted session
-- (sessions_user_id_idx, LATERAL ... LIMIT 1), not an anti-join that reads every session (docs/performance.md,
-- "Plans").
-- In batches: at most :batch_size expired and :batch_size idle sessions per statement (the maintenance loop
-- repeats it until one deletes nothing), one row per user of a deleted session: `last` when none is left live.
WITH due AS (
    (SELECT token_hash FROM sessions WHERE expires_at <= now() ORDER BY expires_at LIMIT :batch_size)
    UNION
    (SELECT token_hash
     FROM sessions
     WHERE kind = 'cookie' AND last_seen_at <= now() - make_interval(secs => :idle_seconds)
     ORDER BY last_seen_at
     LIMIT :batch_size)
), gone AS (
    -- `= ANY (ARRAY(...))`: a generic plan guesses a tenth of the table for LIMIT :batch_size and would hash-join
    -- the whole of it; an array is looked up in the primary key.
    DELETE FROM sessions s
    WHERE s.token_hash = ANY (ARRAY(SELECT token_hash FROM due))
    RETURNING s.user_id
)
SELECT g.user_id, still.live IS NULL AS last
FROM (SELECT DISTINCT user_id FROM gone) g
LEFT JOIN LATERAL (SELECT true AS live
                   FROM sessions s
                   WHERE s.user_id = g.user_id AND s.expires_at > now()
                     AND (s.kind = 'bearer' OR s.last_seen_at > now() - make_interval(secs => :idle_seconds))
                   LIMIT 1) still ON true;

-- name: login_candidate
-- The account a login names, by e-mail (any letter case), with the address as stored (mail goes there, not to
-- whatever spelling the request used). A reseller may also log in with its CPF, written as 11 digits or
-- masked as 000.000.000-00 (normalised here; anything else is not a CPF). Always exactly one row: `subject`
-- is the account's rate-limit subject, its id, or when no account has the login, the login normalised as it
-- was matched (so every spelling of one unknown login shares a bucket too), and the account's columns are
-- null. One statement either way: a login does the same work whether the account exists or not.
WITH login AS (
    SELECT lower(:login) AS email,
           CASE WHEN :login ~ '^([0-9]{11}|[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2})$'
                THEN translate(:login, '.-', '') END::char(11) AS cpf
)
SELECT coalesce(account.id::text, 'cpf:' || login.cpf, 'login:' || login.email) AS subject,
       account.id, account.email, account.password_hash, coalesce(account.active, false) AS active, account.state
FROM login
LEFT JOIN LATERAL (
    SELECT u.id, u.email, u.password_hash, u.active, u.state
    FROM users u
    WHERE lower(u.email) = login.email
    UNION ALL
    SELECT u.id, u.email, u.password_hash, u.active, u.state
    FROM resellers r
    JOIN users u ON u.id = r.user_id
    -- (Compared as char(11), the column's type: as text the comparison could not use resellers_cpf_key.)
    WHERE r.cpf = login.cpf
    LIMIT 1
) account ON true;

-- name: update_password_hash
UPDATE users SET password_hash = :password_hash, updated_at = now() WHERE id = :user_id;

-- name: create_password_reset
-- A single-use reset code; earlier unused codes of the account stop working.
WITH retired AS (
    UPDATE password_resets SET consumed_at = now()
    WHERE user_id = :user_id AND consumed_at IS NULL
)
INSERT INTO password_resets (user_id, code_hash, expires_at)
VALUES (:user_id, :code_hash, now() + make_interval(secs => :ttl_seconds))
RETURNING id;

-- name: count_password_reset_attempt
-- Counts one confirmation attempt against the account's live code and says whether the code matched, and the
-- account's state (a code asked for while the account was active may arrive after its deactivation: it is
-- counted like any other, and refused by reset_password). Five wrong tries burn the code.
UPDATE password_resets pr
SET attempts = pr.attempts + 1,
    consumed_at = CASE WHEN pr.code_hash = :code_hash OR pr.attempts + 1 >= 5 THEN now() END
FROM users u
WHERE u.id = pr.user_id AND lower(u.email) = lower(:email)
  AND pr.consumed_at IS NULL AND pr.expires_at > now()
RETURNING pr.user_id, pr.code_hash = :code_hash AS matched, u.state;

-- name: reset_password
-- A confirmed reset code sets the password; it proves the address, so an invited account becomes active. Codes
-- work only for invited and active accounts: nothing is returned for a deactivated or deleted one. Returns the
-- state the account was in.
UPDATE users u
SET password_hash = :password_hash, state = 'active', updated_at = now()
FROM (SELECT id, state FROM users WHERE id = :user_id FOR NO KEY UPDATE) before
WHERE u.id = before.id AND before.state IN ('invited', 'active')
RETURNING before.state;
