-- HTTP plumbing shared by every area: rate-limit counters and idempotency keys.

-- name: hit_rate_limit
-- Counts one hit in the current fixed window of a bucket (e.g. 'login:address:10.0.0.7') and returns the count
-- and the seconds until the window ends. Shared by every server process.
INSERT INTO rate_limits AS rl (bucket, window_start, hits)
VALUES (:bucket, to_timestamp(floor(extract(epoch FROM now()) / :window_seconds) * :window_seconds), 1)
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rl.hits + 1
RETURNING rl.hits,
          ceil(extract(epoch FROM rl.window_start + make_interval(secs => :window_seconds) - now()))::int
              AS retry_after;

-- name: delete_old_rate_limits
DELETE FROM rate_limits WHERE window_start < now() - interval '1 day';

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
DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours';

-- name: applied_migrations
-- For GET /ready: the migrations yoyo has applied to this database.
SELECT migration_id FROM _yoyo_migration ORDER BY migration_id;
