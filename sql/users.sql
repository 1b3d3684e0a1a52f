-- Users, roles and claims (docs/rules/users.md). A user's effective claims are its role's active claims plus its own.

-- name: create_user
-- A new account; returns nothing when the e-mail is taken in any letter case (the unique index decides).
-- Without :role_id the account gets the default role, 'Usuário'. :state is 'active', or 'invited' for an account
-- a clinic invitation creates (no password yet).
INSERT INTO users (name, email, password_hash, role_id, bio, state)
VALUES (:name, :email, :password_hash,
        COALESCE(:role_id::integer, (SELECT id FROM roles WHERE description = 'Usuário')),
        :bio, :state)
ON CONFLICT ((lower(email))) DO NOTHING
RETURNING id;

-- name: user_view
-- One user as the API shows it (view user_views, migration 0021_user_views). Never the password hash.
SELECT * FROM user_views WHERE id = :user_id;

-- name: list_users
-- The challenge's query: each user with its role and its claims (user_views), one row per user (users without
-- claims included), oldest first. Keyset-paginated on (created_at, id) after (:after_created_at, :after_id) (NULL:
-- the first page, written as the lowest bound so the generic plan still walks users_created_at_idx from the
-- cursor); fetches :limit + 1. The page is chosen first, its claims read per row. Of one role: list_users_by_role.
SELECT *
FROM user_views u
WHERE (u.created_at, u.id) > (COALESCE(:after_created_at::timestamptz, '-infinity'::timestamptz),
                              COALESCE(:after_id::uuid, '00000000-0000-0000-0000-000000000000'::uuid))
ORDER BY u.created_at, u.id
LIMIT :limit + 1;

-- name: list_users_by_role
-- list_users of one role (:role_id), walking users_role_created_idx (migrations/0016_plan_indexes.sql). The page is
-- chosen first from that index alone (every column it needs is in it: an index-only scan), then its users are read
-- by primary key (`= ANY (ARRAY(...))`: a generic plan guesses a tenth of the table for `LIMIT $n` and would
-- hash-join all users). Selecting whole rows in one go, the generic plan preferred walking users_created_at_idx
-- (the heap's own order, so cheaper per row) and filtering on the role, reading every user until a rare role's
-- page was full (6.6 ms at 10 million users; docs/performance.md, "Cost that does not grow with the data").
SELECT *
FROM user_views u
WHERE u.id = ANY (ARRAY(
    SELECT p.id
    FROM users p
    WHERE p.role_id = :role_id::integer
      AND (p.created_at, p.id) > (COALESCE(:after_created_at::timestamptz, '-infinity'::timestamptz),
                                  COALESCE(:after_id::uuid, '00000000-0000-0000-0000-000000000000'::uuid))
    ORDER BY p.created_at, p.id
    LIMIT :limit + 1))
ORDER BY u.created_at, u.id;

-- name: user_role
SELECT u.role_id, r.description AS role_description
FROM users u JOIN roles r ON r.id = u.role_id
WHERE u.id = :user_id;

-- name: user_password_hash
SELECT password_hash FROM users WHERE id = :user_id AND active;

-- name: update_profile
-- Fields the user may change on its own account; a NULL parameter keeps the current value.
UPDATE users
SET name = COALESCE(:name, name),
    bio = COALESCE(:bio, bio),
    password_hash = COALESCE(:password_hash, password_hash),
    updated_at = now()
WHERE id = :user_id;

-- name: lock_account
-- The account someone is about to change, locked until the change commits, so that the authority check and the
-- change see the same role, claims and state. FOR NO KEY UPDATE: rows that reference the user (audit_log) can
-- still be inserted meanwhile, so two administrators changing each other cannot deadlock on them.
SELECT id, state, role_id FROM users WHERE id = :user_id FOR NO KEY UPDATE;

-- name: assigned_claims
-- The claims a user is assigned through its role or its own grants, active or not: what authority over the
-- account is measured against ("Authority over other accounts").
SELECT ARRAY(SELECT c.description FROM users u JOIN role_claims rc ON rc.role_id = u.role_id
                                               JOIN claims c ON c.id = rc.claim_id
             WHERE u.id = :user_id
             UNION
             SELECT c.description FROM user_claims uc JOIN claims c ON c.id = uc.claim_id
             WHERE uc.user_id = :user_id
             ORDER BY 1) AS claims;

-- name: set_role
-- Returns nothing when the role was already that one. The trigger users_keep_an_administrador refuses to demote
-- the last active Administrador.
UPDATE users SET role_id = :role_id, updated_at = now()
WHERE id = :user_id AND role_id <> :role_id
RETURNING id;

-- name: change_state
-- A transition of "Account states", only from one of :from_states: a code or a stale request cannot move an
-- account out of a state it has left meanwhile. Returns nothing when the account is in none of them.
UPDATE users SET state = :state, updated_at = now()
WHERE id = :user_id AND state = ANY(:from_states::text[])
RETURNING id;

-- name: account_state
SELECT state FROM users WHERE id = :user_id;

-- name: user_by_email
-- The account an e-mail names, in any letter case: the one "user by e-mail" of every area (demo data, account
-- creation, invitations); activated = it has a password. A deleted account is not found (its address is already
-- a placeholder: this keeps it so even for someone who types that placeholder).
SELECT id, name, state, active, password_hash IS NOT NULL AS activated
FROM users
WHERE lower(email) = lower(:email) AND state <> 'deleted';

-- name: activate_account
-- A clinic invitation's code accepted: the invited account gets its password and name and becomes active; an
-- active one (activated meanwhile by a reset code, say) gets them too: the code proves the address. Codes never
-- bring back a deactivated or deleted account ("Account states"): nothing is returned then. Returns the state
-- the account was in.
UPDATE users u
SET password_hash = :password_hash, name = :name, state = 'active', updated_at = now()
FROM (SELECT id, state FROM users WHERE id = :user_id FOR NO KEY UPDATE) before
WHERE u.id = before.id AND before.state IN ('invited', 'active')
RETURNING before.state;

-- name: anonymize_user
-- Account deletion (LGPD): personal data is erased, the row stays for the financial and clinical rows that
-- reference it. The e-mail becomes a unique placeholder so the address can sign up again.
UPDATE users
SET name = NULL,
    email = 'deleted-' || id || '@invalid',
    bio = NULL,
    password_hash = NULL,
    state = 'deleted',
    deleted_at = now(),
    updated_at = now()
WHERE id = :user_id AND state <> 'deleted'
RETURNING id;

-- name: role_exists
SELECT EXISTS (SELECT 1 FROM roles WHERE id = :role_id) AS found;

-- name: role_claim_names
-- The claims a role grants (active or not): what someone must hold to hand the role out.
SELECT ARRAY(SELECT c.description FROM role_claims rc JOIN claims c ON c.id = rc.claim_id
             WHERE rc.role_id = :role_id ORDER BY 1) AS claims;

-- name: list_roles
-- Roles with their default claims, by id; keyset-paginated (fetches :limit + 1).
SELECT r.id, r.description,
       ARRAY(SELECT c.description FROM role_claims rc JOIN claims c ON c.id = rc.claim_id
             WHERE rc.role_id = r.id ORDER BY 1) AS claims
FROM roles r
WHERE :after_id::integer IS NULL OR r.id > :after_id::integer
ORDER BY r.id
LIMIT :limit + 1;

-- name: create_role
-- Returns nothing when the description is taken.
INSERT INTO roles (description) VALUES (:description)
ON CONFLICT (description) DO NOTHING
RETURNING id;

-- name: add_role_claims
INSERT INTO role_claims (role_id, claim_id)
SELECT :role_id, unnest(:claim_ids::integer[])
ON CONFLICT DO NOTHING;

-- name: role_view
SELECT r.id, r.description,
       ARRAY(SELECT c.description FROM role_claims rc JOIN claims c ON c.id = rc.claim_id
             WHERE rc.role_id = r.id ORDER BY 1) AS claims
FROM roles r
WHERE r.id = :role_id;

-- name: list_claims
-- Claims by id; keyset-paginated (fetches :limit + 1).
SELECT id, description, active
FROM claims
WHERE :after_id::integer IS NULL OR id > :after_id::integer
ORDER BY id
LIMIT :limit + 1;

-- name: claims_by_ids
SELECT id, description, active FROM claims WHERE id = ANY(:claim_ids::integer[]) ORDER BY id;

-- name: claim_view
SELECT id, description, active FROM claims WHERE id = :claim_id;

-- name: create_claim
-- A new claim; returns nothing when the description is taken. The Administrador role holds every claim ("all"
-- in docs/rules/users.md), so the new claim joins its defaults: otherwise nobody would hold it, and since nobody may
-- grant a claim they do not hold, nobody could ever grant it.
WITH created AS (
    INSERT INTO claims (description, active) VALUES (:description, :active)
    ON CONFLICT (description) DO NOTHING
    RETURNING id, description, active
), administrador AS (
    INSERT INTO role_claims (role_id, claim_id)
    SELECT 1, created.id FROM created  -- the Administrador: role id 1 since the first migration
)
SELECT id, description, active FROM created;

-- name: update_claim
-- Returns nothing when the new description is taken by another claim (or the claim is unknown).
UPDATE claims
SET description = COALESCE(:description, description),
    active = COALESCE(:active::boolean, active)
WHERE id = :claim_id
  AND NOT EXISTS (SELECT 1 FROM claims o WHERE o.description = :description AND o.id <> :claim_id)
RETURNING id, description, active;

-- name: grant_user_claim
INSERT INTO user_claims (user_id, claim_id) VALUES (:user_id, :claim_id)
ON CONFLICT DO NOTHING;

-- name: revoke_user_claim
DELETE FROM user_claims WHERE user_id = :user_id AND claim_id = :claim_id;

-- name: has_administrator
-- Whether an active Administrador (role id 1, whatever its description) exists.
SELECT EXISTS (SELECT 1 FROM users WHERE role_id = 1 AND state = 'active') AS found;

-- name: restore_administrator
-- ADMIN_EMAIL's account made an active Administrador again, only when no active Administrador exists at all (the
-- documented way back). Its password is kept; an invited account gets the given one.
UPDATE users
SET role_id = 1, state = 'active', password_hash = COALESCE(password_hash, :password_hash), updated_at = now()
WHERE lower(email) = lower(:email) AND state <> 'deleted'
  AND NOT EXISTS (SELECT 1 FROM users WHERE role_id = 1 AND state = 'active')
RETURNING id;

-- name: export_user
-- Everything stored about one user, as one JSON document (LGPD access right). No password or token hashes.
SELECT jsonb_build_object(
    'user', (SELECT jsonb_build_object('id', u.id, 'name', u.name, 'email', u.email, 'bio', u.bio,
                                       'active', u.active, 'state', u.state, 'role', r.description,
                                       'created_at', u.created_at, 'updated_at', u.updated_at)
             FROM users u JOIN roles r ON r.id = u.role_id WHERE u.id = :user_id),
    'claims', ARRAY(SELECT c.description FROM user_claims uc JOIN claims c ON c.id = uc.claim_id
                    WHERE uc.user_id = :user_id ORDER BY 1),
    'sessions', COALESCE((SELECT jsonb_agg(jsonb_build_object('kind', s.kind, 'created_at', s.created_at,
                                                              'expires_at', s.expires_at,
                                                              'last_seen_at', s.last_seen_at)
                                           ORDER BY s.created_at)
                          FROM sessions s WHERE s.user_id = :user_id), '[]'),
    'audit_log', COALESCE((SELECT jsonb_agg(jsonb_build_object('at', a.at, 'action', a.action,
                                                               'detail', a.detail) ORDER BY a.at)
                           FROM audit_log a WHERE a.subject = 'user:' || :user_id), '[]'),
    -- Cashback: the reseller profile (CPF) and its purchases; null for a user who is not a reseller.
    'reseller', (SELECT jsonb_build_object(
                            'cpf', rs.cpf, 'created_at', rs.created_at,
                            'purchases', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                                                              'id', p.id, 'code', p.code, 'value', p.value,
                                                              'date', p.purchased_on, 'status', p.status,
                                                              'created_at', p.created_at,
                                                              'updated_at', p.updated_at)
                                                          ORDER BY p.purchased_on, p.id)
                                                   FROM purchases p WHERE p.reseller_id = rs.user_id), '[]'))
                 FROM resellers rs WHERE rs.user_id = :user_id)
) AS document;
