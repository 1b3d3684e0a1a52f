-- Live feed events (docs/rules/realtime.md). Topics: 'product:<uuid>', 'clinic:<id>:display', 'clinic:<id>:queue',
-- 'cache:<name>'. The channel also carries 'rights' notifications (seq 0, never stored): sent by the triggers of
-- migrations/0012_realtime_rights.sql when sessions end or rights change (app/realtime/rights.py).

-- name: publish_event
-- Writes an event in the caller's transaction and returns its seq. The function is defined in
-- migrations/0017_publish_event.sql (`\sf publish_event` in psql): the topic's next seq from topic_seq, the event
-- row, and a NOTIFY delivered on commit only, carrying the payload when it is under 7000 bytes (else only topic
-- and seq, and listeners read the row). The bid in sql/auctions.sql (place_bid) calls the same function.
SELECT publish_event(:topic, :payload::jsonb) AS seq;

-- name: last_seq
SELECT COALESCE((SELECT last_seq FROM topic_seq WHERE topic = :topic), 0) AS last_seq;

-- name: events_after
-- Replay: the events of a topic after :after_seq, in order, at most :limit.
SELECT topic, seq, payload FROM events
WHERE topic = :topic AND seq > :after_seq
ORDER BY seq
LIMIT :limit;

-- name: last_event
-- The newest event of a topic (the hub hands it to subscribers after a reconnect; the prune keeps it).
SELECT topic, seq, payload FROM events
WHERE topic = :topic
ORDER BY seq DESC
LIMIT 1;

-- name: replay_window
-- Whether events after :after_seq can still be replayed: the oldest kept seq and the last one of the topic.
SELECT COALESCE((SELECT min(seq) FROM events WHERE topic = :topic), 0) AS oldest_seq,
       COALESCE((SELECT last_seq FROM topic_seq WHERE topic = :topic), 0) AS last_seq;

-- name: prune_events
-- Retention: events older than :retention_seconds go; the newest event of each topic stays, so a topic's
-- sequence is never reused. In batches: the next :batch_size events past the retention, oldest first, created
-- after :after_created_at (NULL: from the oldest) are examined and those that are not their topic's newest
-- deleted; returns how many were examined and the last one's created_at, the next batch's :after_created_at.
-- Examining a bounded batch, not deleting one, keeps the cost of a statement flat although every topic's kept
-- newest event piles up at the old end of events_created_at_idx. (An event created at the very instant a batch
-- ends waits for the next pass.)
WITH examined AS (
    SELECT e.ctid AS row_id, e.topic, e.seq, e.created_at
    FROM events e
    WHERE e.created_at < now() - make_interval(secs => :retention_seconds)
      AND e.created_at > COALESCE(:after_created_at::timestamptz, '-infinity'::timestamptz)
    ORDER BY e.created_at
    LIMIT :batch_size
), deleted AS (
    -- By ctid in an array (see web.sql's delete_old_rate_limits for why).
    DELETE FROM events e
    WHERE e.ctid = ANY (ARRAY(SELECT x.row_id
                              FROM examined x
                              WHERE x.seq < (SELECT ts.last_seq FROM topic_seq ts WHERE ts.topic = x.topic)))
    RETURNING e.seq
)
SELECT (SELECT count(*) FROM examined) AS examined,
       (SELECT max(x.created_at) FROM examined x) AS last_created_at,
       (SELECT count(*) FROM deleted) AS deleted;

-- name: listen
-- Run once on the hub's own autocommit connection in every server process.
LISTEN events;

-- name: ping
SELECT 1 AS alive;
