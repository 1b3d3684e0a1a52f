-- E-mail rules (docs/rules/users.md, "E-mail addresses"; issue 11, finding 3): the address rule and "no line break in
-- any text that can reach a mail header" as constraints, and the sender's leases and failed messages.
-- Rows stored before this migration that break a rule are reported (WARNING, with their ids), never rewritten:
-- each constraint is added NOT VALID (new rows are checked at once) and validated only when no row breaks it;
-- otherwise it stays NOT VALID and the warning says which rows to fix (then ALTER TABLE ... VALIDATE CONSTRAINT).
-- The outbox uses a trigger instead (see below).
-- depends: 0010_users_authority

-- The rule of app/mail/address.py for stored addresses: a dot-atom local part of at most 64 characters, a domain
-- of ASCII LDH labels with a dot (any case: domains compare case-insensitively), at most 254 characters.
-- `localhost` alone passes here because the database does not know APP_ENV; the application refuses it outside
-- development.
CREATE FUNCTION is_mail_address(address text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN length(address) <= 254
    AND length(split_part(address, '@', 1)) <= 64
    AND address ~* ('^[a-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&''*+/=?^_`{|}~-]+)*@'
                    '(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?|localhost)$');

-- Text that can reach a mail header (a subject, a name in one) never carries CR or LF.
CREATE FUNCTION is_header_safe(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN strpos(value, chr(13)) = 0 AND strpos(value, chr(10)) = 0;

-- An anonymised account keeps 'deleted-<id>@invalid', which is never mailed.
ALTER TABLE users ADD CONSTRAINT users_email_rule CHECK (deleted_at IS NOT NULL OR is_mail_address(email)) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_name_header_safe CHECK (is_header_safe(name)) NOT VALID;
ALTER TABLE clinics ADD CONSTRAINT clinics_name_header_safe CHECK (is_header_safe(name)) NOT VALID;
ALTER TABLE staff_invitations ADD CONSTRAINT staff_invitations_email_rule CHECK (is_mail_address(email)) NOT VALID;
ALTER TABLE staff_invitations
    ADD CONSTRAINT staff_invitations_name_header_safe CHECK (is_header_safe(name)) NOT VALID;

-- The outbox checks new values with a trigger, not a CHECK: PostgreSQL checks even a NOT VALID constraint on
-- every UPDATE of an old row, so the sender could not lease a message stored before this migration, nor record
-- that it failed, and that one row would stop the queue again. The trigger checks the recipient and subject
-- only when they are written; an old row that breaks the rule fails in the sender like any message that cannot
-- be built (kept as failed, listed by `app mail --failed`).
CREATE FUNCTION outbox_rules() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT is_mail_address(NEW.to_address) THEN
        RAISE EXCEPTION 'outbox recipient breaks the e-mail address rule'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'outbox_to_address_rule', TABLE = 'outbox';
    END IF;
    IF NOT is_header_safe(NEW.subject) THEN
        RAISE EXCEPTION 'outbox subject holds a line break'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'outbox_subject_header_safe', TABLE = 'outbox';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER outbox_rules BEFORE INSERT OR UPDATE OF to_address, subject ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_rules();

-- Report the stored rows that break a rule, then validate each constraint that no stored row breaks.
DO $$
DECLARE
    rule record;
    breaking bigint;
    ids text;
BEGIN
    FOR rule IN
        SELECT * FROM (VALUES
            ('users', 'users_email_rule', 'deleted_at IS NULL AND NOT is_mail_address(email)', true),
            ('users', 'users_name_header_safe', 'NOT is_header_safe(name)', true),
            ('clinics', 'clinics_name_header_safe', 'NOT is_header_safe(name)', true),
            ('staff_invitations', 'staff_invitations_email_rule', 'NOT is_mail_address(email)', true),
            ('staff_invitations', 'staff_invitations_name_header_safe', 'NOT is_header_safe(name)', true),
            ('outbox', 'outbox_to_address_rule', 'NOT is_mail_address(to_address)', false),
            ('outbox', 'outbox_subject_header_safe', 'NOT is_header_safe(subject)', false)
        ) AS r (tbl, name, breaks, is_constraint)
    LOOP
        EXECUTE format('SELECT count(*), string_agg(id::text, '', '') FILTER (WHERE n <= 100) '
                       'FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM %I WHERE %s) AS t',
                       rule.tbl, rule.breaks)
            INTO breaking, ids;
        IF breaking = 0 AND rule.is_constraint THEN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', rule.tbl, rule.name);
        ELSIF breaking > 0 AND rule.is_constraint THEN
            -- Until fixed, an UPDATE of such a row fails unless it corrects the value in the same statement.
            RAISE WARNING '% row(s) of % break %, left NOT VALID (fix them, then ALTER TABLE % VALIDATE CONSTRAINT %); ids: %',
                breaking, rule.tbl, rule.name, rule.tbl, rule.name,
                ids || CASE WHEN breaking > 100 THEN ', ...' ELSE '' END;
        ELSIF breaking > 0 THEN
            RAISE WARNING '% row(s) of % break %, kept as they are (unsent ones end failed: app mail --failed); ids: %',
                breaking, rule.tbl, rule.name, ids || CASE WHEN breaking > 100 THEN ', ...' ELSE '' END;
        END IF;
    END LOOP;
END
$$;

-- The sender leases a row (leased_until) for one delivery, outside any transaction. `attempts` counts the tries
-- the message itself caused to fail (or its delivery); an unreachable server, a timeout or a 4xx reply counts in
-- `deferrals` instead, which only sets the back-off. A message that failed MAIL_MAX_ATTEMPTS times is kept with
-- failed_at set until an operator re-queues it (`app mail --retry ID`).
ALTER TABLE outbox
    ADD COLUMN leased_until timestamptz,
    ADD COLUMN deferrals    integer NOT NULL DEFAULT 0,
    ADD COLUMN failed_at    timestamptz;
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed_idx ON outbox (failed_at) WHERE failed_at IS NOT NULL;
