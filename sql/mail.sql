-- The e-mail outbox (docs/rules/README.md, "E-mail"; docs/rules/users.md, "E-mail addresses").

-- name: queue_mail
-- Written in the transaction of the change that causes the message: if that rolls back, nothing is sent.
INSERT INTO outbox (to_address, subject, body) VALUES (:to_address, :subject, :body)
RETURNING id;

-- name: lease_due_mail
-- Leases due messages to this sender and commits at once: the SMTP exchange happens outside any transaction.
-- SKIP LOCKED lets two processes lease at the same moment without waiting; the lease (longer than a send may
-- take) keeps other senders off the row until the outcome is written, or lets them take it if this one died.
UPDATE outbox
SET leased_until = now() + make_interval(secs => :lease_seconds::double precision)
WHERE id IN (
    SELECT id
    FROM outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
      AND (leased_until IS NULL OR leased_until <= now())
    ORDER BY next_attempt_at, id
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
)
RETURNING id, to_address, subject, body, attempts, deferrals;

-- name: mark_mail_sent
-- Delivered: the body goes (it may hold a one-time code, which no row keeps in clear once it has reached its
-- owner); the row stays a while as the record of what was sent to whom, and when.
UPDATE outbox
SET sent_at = now(), attempts = attempts + 1, leased_until = NULL, last_error = NULL, body = ''
WHERE id = :id AND sent_at IS NULL;

-- name: defer_mail
-- A transient failure (server unreachable, timeout, 4xx): the message's attempts are not used; it waits 2, 4, 8
-- ... seconds, at most 10 minutes, and is retried for as long as it takes (an outage loses nothing).
UPDATE outbox
SET deferrals = deferrals + 1,
    last_error = :error,
    leased_until = NULL,
    next_attempt_at = now() + make_interval(secs => least(600, 2 ^ least(deferrals + 1, 10)))
WHERE id = :id AND sent_at IS NULL;

-- name: fail_mail_attempt
-- A permanent failure of this message alone (it cannot be built, or a 5xx reply for it): one of its attempts is
-- used; after :max_attempts it is kept as failed for an operator (`app mail --failed`, `--retry ID`).
UPDATE outbox
SET attempts = attempts + 1,
    last_error = :error,
    leased_until = NULL,
    failed_at = CASE WHEN attempts + 1 >= :max_attempts::integer THEN now() END,
    next_attempt_at = now() + make_interval(secs => least(600, 2 ^ least(attempts + 1, 10)))
WHERE id = :id AND sent_at IS NULL
RETURNING failed_at IS NOT NULL AS failed;

-- name: failed_mail
SELECT id, to_address, subject, attempts, last_error, failed_at
FROM outbox
WHERE failed_at IS NOT NULL
ORDER BY failed_at, id;

-- name: retry_mail
-- An operator re-queues a failed message with its attempts back to zero.
UPDATE outbox
SET failed_at = NULL, attempts = 0, deferrals = 0, leased_until = NULL, next_attempt_at = now()
WHERE id = :id AND failed_at IS NOT NULL
RETURNING id;

-- name: delete_old_sent_mail
-- The oldest :batch_size messages sent more than 30 days ago (in batches: the maintenance loop repeats it until
-- one deletes nothing; the ids in an array, looked up in the primary key, as in web.sql's delete_old_rate_limits).
DELETE FROM outbox
WHERE id = ANY (ARRAY(SELECT o.id
                      FROM outbox o
                      WHERE o.sent_at < now() - interval '30 days'
                      ORDER BY o.sent_at
                      LIMIT :batch_size));
