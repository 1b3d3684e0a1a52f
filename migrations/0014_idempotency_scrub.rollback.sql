-- The passwords removed by 0014_idempotency_scrub are gone on purpose and cannot be restored; the scrubbed
-- responses stay as they are (the app stores new ones the same way).
SELECT 1;
