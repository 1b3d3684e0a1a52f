-- Secrets at rest (issue 11, finding 12): responses stored for Idempotency-Key replays held the generated
-- password of `POST /api/v1/users/` in clear for 24 hours. The app no longer stores it (app/web/idempotency.py).
-- This migration is an INTENDED DATA CHANGE: it removes `generated_password` from the responses already stored
-- and marks them `"generated_password_shown": true`, exactly as the app now stores them, so a replay answers
-- the same status and body without the password. Nothing else in a stored response changes meaning (jsonb may
-- reorder its keys). The number of scrubbed rows is reported. The passwords cannot be brought back: the rollback
-- changes nothing.
-- depends: 0013_clinic_kiosk_quota

DO $$
DECLARE
    scrubbed integer;
BEGIN
    UPDATE idempotency_keys
    SET response = convert_to(
            ((convert_from(response, 'UTF8')::jsonb - 'generated_password')
             || '{"generated_password_shown": true}'::jsonb)::text,
            'UTF8')
    WHERE CASE WHEN position('"generated_password"'::bytea IN response) > 0  -- parse only these
               THEN jsonb_typeof(convert_from(response, 'UTF8')::jsonb -> 'generated_password') = 'string'
               ELSE false END;
    GET DIAGNOSTICS scrubbed = ROW_COUNT;
    RAISE NOTICE '0014_idempotency_scrub: generated passwords removed from % stored idempotent response(s)', scrubbed;
END
$$;
