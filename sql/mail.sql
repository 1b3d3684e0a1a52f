-- The e-mail outbox (docs/rules/README.md, "E-mail").

-- name: queue_mail
-- Written in the transaction of the change that causes the message: if that rolls back, nothing is sent.
INSERT INTO outbox (to_address, subject, body) VALUES (:to_address, :subject, :body)
RETURNING id;

-- name: claim_due_mail
-- Due messages, locked for this sender until its transaction ends; other processes skip them.
SELECT id, to_address, subject, body, attempts
FROM outbox
WHERE sent_at IS NULL AND next_attempt_at <= now()
ORDER BY next_attempt_at, id
LIMIT :batch_size
FOR UPDATE SKIP LOCKED;

-- name: mark_mail_sent
UPDATE outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = :id;

-- name: mark_mail_failed
-- Exponential back-off: 2, 4, 8 ... seconds, at most 10 minutes between tries. Nothing is ever dropped.
UPDATE outbox
SET attempts = attempts + 1,
    last_error = :error,
    next_attempt_at = now() + make_interval(secs => least(600, 2 ^ least(attempts + 1, 10)))
WHERE id = :id;

-- name: delete_old_sent_mail
DELETE FROM outbox WHERE sent_at < now() - interval '30 days';
