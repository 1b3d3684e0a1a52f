-- Responses of creating requests sent with an Idempotency-Key, replayed to a retry with the same key and body.
-- depends: 0003_mail

CREATE TABLE idempotency_keys (
    owner        text NOT NULL,   -- the user id, or the client address for anonymous requests
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    status_code  integer,
    response     bytea,
    location     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
