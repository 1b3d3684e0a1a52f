-- Sessions (browser cookies) and bearer tokens, password resets.
-- Tokens arrive hashed (:token_hash is the SHA-256 of the random token); the raw token is never stored.

-- name: create_session
-- A new cookie session or bearer token for a user; returns when it expires.
INSERT INTO sessions (token_hash, user_id, kind, expires_at)
VALUES (:token_hash, :user_id, :kind, now() + make_interval(secs => :ttl_seconds))
RETURNING expires_at;

-- name: session_principal
-- The user behind a live session or token, with its role and effective claims (the role's active claims plus
-- the user's own). Cookie sessions also expire when idle; last_seen_at is refreshed at most once a minute (or
-- every tenth of the idle timeout, when that is shorter) so a busy client does not write on every request and a
-- client that keeps using its session is never idle-expired.
WITH live AS (
    SELECT s.token_hash, s.user_id, s.kind
    FROM sessions s
    WHERE s.token_hash = :token_hash
      AND s.expires_at > now()
      AND (s.kind = 'bearer' OR s.last_seen_at > now() - make_interval(secs => :idle_seconds))
), touched AS (
    UPDATE sessions s SET last_seen_at = now()
    FROM live
    WHERE s.token_hash = live.token_hash
      AND s.last_seen_at < now() - least(interval '60 seconds', make_interval(secs => :idle_seconds / 10.0))
)
SELECT u.id, u.email, u.name, u.role_id, r.description AS role_description, live.kind AS session_kind,
       ARRAY(
           SELECT c.description FROM role_claims rc JOIN claims c ON c.id = rc.claim_id
           WHERE rc.role_id = u.role_id AND c.active
           UNION
           SELECT c.description FROM user_claims uc JOIN claims c ON c.id = uc.claim_id
           WHERE uc.user_id = u.id AND c.active
       ) AS claims
FROM live
JOIN users u ON u.id = live.user_id AND u.active
JOIN roles r ON r.id = u.role_id;

-- name: delete_session
DELETE FROM sessions WHERE token_hash = :token_hash;

-- name: delete_user_sessions
-- Logout everywhere: password change or reset, deactivation, deletion.
DELETE FROM sessions WHERE user_id = :user_id;

-- name: delete_expired_sessions
DELETE FROM sessions
WHERE expires_at <= now()
   OR (kind = 'cookie' AND last_seen_at <= now() - make_interval(secs => :idle_seconds));

-- name: login_candidate
-- The account a login names, by e-mail (any letter case), with the address as stored (mail goes there, not to
-- whatever spelling the request used). A reseller may also log in with its CPF, written as 11 digits or
-- masked as 000.000.000-00 (normalised here; anything else is not a CPF). At most one row either way.
SELECT u.id, u.email, u.password_hash, u.active
FROM users u
WHERE lower(u.email) = lower(:login)
UNION ALL
SELECT u.id, u.email, u.password_hash, u.active
FROM resellers r
JOIN users u ON u.id = r.user_id
-- (Compared as char(11), the column's type: as text the comparison could not use resellers_cpf_key.)
WHERE r.cpf = CASE WHEN :login ~ '^([0-9]{11}|[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2})$'
                   THEN translate(:login, '.-', '') END::char(11)
LIMIT 1;

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
-- Counts one confirmation attempt against the account's live code and says whether the code matched.
-- Five wrong tries burn the code.
UPDATE password_resets pr
SET attempts = pr.attempts + 1,
    consumed_at = CASE WHEN pr.code_hash = :code_hash OR pr.attempts + 1 >= 5 THEN now() END
FROM users u
WHERE u.id = pr.user_id AND lower(u.email) = lower(:email) AND u.active
  AND pr.consumed_at IS NULL AND pr.expires_at > now()
RETURNING pr.user_id, pr.code_hash = :code_hash AS matched;
