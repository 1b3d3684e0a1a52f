-- Events of every live feed (docs/rules/realtime.md): numbered gap-free per topic, written in the transaction they
-- describe, announced with NOTIFY on commit, replayed from here after a disconnect.
-- depends: 0004_idempotency

CREATE TABLE topic_seq (
    topic    text PRIMARY KEY,
    last_seq bigint NOT NULL
);

CREATE TABLE events (
    topic      text NOT NULL,
    seq        bigint NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, seq)
);
CREATE INDEX events_created_at_idx ON events (created_at);
