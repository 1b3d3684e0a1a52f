-- publish_event(topic, payload): the one definition of publishing a live-feed event (docs/rules/realtime.md,
-- guarantees 1 and 2). sql/realtime.sql's `publish_event` statement (every event the app writes from Python)
-- and sql/auctions.sql's `place_bid` (a bid's events, inside the bid's single round trip) both call it.
-- depends: 0016_plan_indexes

-- Runs inside the transaction of the change it announces: the topic's next seq (the topic_seq row lock
-- serializes writers of this topic only, so seq order is commit order), the event row, and a NOTIFY that
-- PostgreSQL delivers only if the transaction commits, in the order of the calls. The notification carries the
-- payload when it is small enough (< 7000 bytes, under NOTIFY's 8000-byte limit with room for topic and seq),
-- else only topic and seq, and listeners read the row. Returns the event's seq.
CREATE FUNCTION publish_event(topic text, payload jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    next_seq bigint;
BEGIN
    INSERT INTO topic_seq AS ts (topic, last_seq) VALUES (publish_event.topic, 1)
    ON CONFLICT (topic) DO UPDATE SET last_seq = ts.last_seq + 1
    RETURNING ts.last_seq INTO next_seq;
    INSERT INTO events (topic, seq, payload) VALUES (publish_event.topic, next_seq, publish_event.payload);
    PERFORM pg_notify('events',
                      CASE WHEN octet_length(publish_event.payload::text) < 7000
                           THEN jsonb_build_object('topic', publish_event.topic, 'seq', next_seq,
                                                   'payload', publish_event.payload)::text
                           ELSE jsonb_build_object('topic', publish_event.topic, 'seq', next_seq)::text
                      END);
    RETURN next_seq;
END
$$;
