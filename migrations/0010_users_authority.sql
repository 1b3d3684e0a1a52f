-- Account states and the last Administrador (docs/rules/users.md, "Account states" and "Authority over other accounts").
-- `users.active` meant two things (deactivated, or invited and not yet activated); `state` says which, and
-- `active` stays as the column every reader knows, now derived from it.
-- depends: 0008_cashback

ALTER TABLE users ADD COLUMN state text;

-- Each stored account's state, from the columns that said it so far: an anonymised row is deleted, a password-less
-- inactive one was created by a clinic invitation, any other inactive one was deactivated.
UPDATE users SET state = CASE
    WHEN active THEN 'active'
    WHEN deleted_at IS NOT NULL THEN 'deleted'
    WHEN password_hash IS NULL THEN 'invited'
    ELSE 'deactivated'
END;

ALTER TABLE users
    ALTER COLUMN state SET DEFAULT 'active',
    ALTER COLUMN state SET NOT NULL,
    ADD CONSTRAINT users_state_check CHECK (state IN ('invited', 'active', 'deactivated', 'deleted')),
    -- An invited account gets its password when it is activated (invitation or reset code), not before.
    ADD CONSTRAINT users_invited_without_password_check CHECK (state <> 'invited' OR password_hash IS NULL),
    -- Deleted means anonymised: both or neither. NOT VALID, checked and reported below.
    ADD CONSTRAINT users_deleted_state_check CHECK ((state = 'deleted') = (deleted_at IS NOT NULL)) NOT VALID;

ALTER TABLE users DROP COLUMN active;
ALTER TABLE users ADD COLUMN active boolean GENERATED ALWAYS AS (state = 'active') STORED;

DO $$
DECLARE
    counts    text;
    offenders text;
BEGIN
    SELECT string_agg(state || ': ' || n, ', ' ORDER BY state) INTO counts
    FROM (SELECT state, count(*) AS n FROM users GROUP BY state) s;
    RAISE NOTICE 'users.state derived from the stored accounts: %', COALESCE(counts, 'no accounts');

    SELECT string_agg(id::text, ', ' ORDER BY id) INTO offenders
    FROM users WHERE (state = 'deleted') <> (deleted_at IS NOT NULL);
    IF offenders IS NULL THEN
        ALTER TABLE users VALIDATE CONSTRAINT users_deleted_state_check;
    ELSE
        RAISE WARNING 'users_deleted_state_check left NOT VALID: active accounts with deleted_at set: %', offenders;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM users WHERE role_id = 1 AND state = 'active') AND EXISTS (SELECT 1 FROM users) THEN
        RAISE WARNING 'no active Administrador: start the server with ADMIN_EMAIL naming one to restore it';
    END IF;
END
$$;

-- The last active Administrador (the role with id 1 since the first migration, whatever its description says) is
-- never demoted, deactivated or deleted. Every removal of an Administrador first locks the Administrador role row,
-- so removals run one at a time, and each looks (with a fresh snapshot, after the lock) for another active one:
-- two concurrent requests cannot each remove "the other" last one. (FOR NO KEY UPDATE: it does not block the foreign
-- key checks of accounts given the role meanwhile.)
CREATE FUNCTION users_keep_an_administrador() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM roles WHERE id = 1 FOR NO KEY UPDATE;
    IF NOT EXISTS (SELECT 1 FROM users WHERE role_id = 1 AND state = 'active' AND id <> OLD.id) THEN
        RAISE EXCEPTION 'The last active Administrador cannot be demoted, deactivated or deleted'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'users_last_administrator';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_last_administrator_update
BEFORE UPDATE OF role_id, state ON users
FOR EACH ROW
WHEN (OLD.role_id = 1 AND OLD.state = 'active' AND (NEW.role_id <> 1 OR NEW.state <> 'active'))
EXECUTE FUNCTION users_keep_an_administrador();

CREATE TRIGGER users_last_administrator_delete
BEFORE DELETE ON users
FOR EACH ROW
WHEN (OLD.role_id = 1 AND OLD.state = 'active')
EXECUTE FUNCTION users_keep_an_administrador();
