-- HTTP plumbing shared by every area: rate-limit counters and idempotency keys.

-- name: hit_rate_limits
-- Counts one hit in the current fixed window of each bucket (e.g. 'login:address:10.0.0.7'), all in one
-- statement, and returns each bucket's count, its window and the seconds elapsed in it. Shared by every server
-- process. Rows are written in the callers' (sorted) order, so concurrent hits on the same buckets take the row
-- locks in one order and cannot deadlock.
INSERT INTO rate_limits AS rl (bucket, window_start, hits)
SELECT b.bucket, to_timestamp(floor(extract(epoch FROM now()) / b.window_seconds) * b.window_seconds), 1
FROM unnest(:buckets::text[], :window_seconds::int[]) WITH ORDINALITY AS b(bucket, window_seconds, position)
ORDER BY b.position
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rl.hits + 1
RETURNING rl.bucket, rl.window_start, rl.hits, extract(epoch FROM now() - rl.window_start)::float8 AS elapsed;

-- name: refund_rate_limits
-- Takes back hits counted ahead of a password check that then succeeded: only failures stay counted.
UPDATE rate_limits rl SET hits = rl.hits - 1
FROM unnest(:buckets::text[], :window_starts::timestamptz[]) AS b(bucket, window_start)
WHERE rl.bucket = b.bucket AND rl.window_start = b.window_start AND rl.hits > 0;

-- name: delete_old_rate_limits
-- The oldest :batch_size windows past their day (the maintenance loop repeats it until one deletes nothing: a
-- statement's cost stays that of a batch however many rows are due). The rows are named by ctid in an array: a
-- generic plan guesses a tenth of the table for LIMIT :batch_size and would join the whole of it otherwise; a
-- row updated meanwhile has moved from its ctid and waits for the next pass.
DELETE FROM rate_limits
WHERE ctid = ANY (ARRAY(SELECT r.ctid
                        FROM rate_limits r
                        WHERE r.window_start < now() - interval '1 day'
                        ORDER BY r.window_start
                        LIMIT :batch_size));

-- name: claim_idempotency_key
-- Claims a key inside the request's transaction. A concurrent retry with the same key waits here until the
-- first request commits (then finds its response) or rolls back (then claims the key itself).
INSERT INTO idempotency_keys (owner, key, request_hash)
VALUES (:owner, :key, :request_hash)
ON CONFLICT (owner, key) DO NOTHING
RETURNING true AS claimed;

-- name: idempotent_response
SELECT request_hash, status_code, response, location
FROM idempotency_keys
WHERE owner = :owner AND key = :key;

-- name: store_idempotent_response
UPDATE idempotency_keys
SET status_code = :status_code, response = :response, location = :location
WHERE owner = :owner AND key = :key;

-- name: delete_old_idempotency_keys
-- The oldest :batch_size keys past their 24 hours (in batches, as delete_old_rate_limits).
DELETE FROM idempotency_keys
WHERE ctid = ANY (ARRAY(SELECT k.ctid
                        FROM idempotency_keys k
                        WHERE k.created_at < now() - interval '24 hours'
                        ORDER BY k.created_at
                        LIMIT :batch_size));

-- name: applied_migrations
-- For GET /ready: the migrations yoyo has applied to this database.
SELECT migration_id FROM _yoyo_migration ORDER BY migration_id;
