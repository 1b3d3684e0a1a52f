-- The baseline of loadtest/bench_realtime.py: the least a bid can cost, a bare INSERT and NOTIFY in one
-- transaction through the same kind of pool the app uses. Not part of the app's schema.

-- name: create_bare_table
CREATE TABLE IF NOT EXISTS bench_bare_bids (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id integer NOT NULL,
    amount     numeric(14,2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- name: bare_insert
INSERT INTO bench_bare_bids (product_id, amount) VALUES (:product_id, :amount);

-- name: bare_notify
SELECT pg_notify('bench_bare', :payload);
