-- Auctions (docs/rules/auctions.md): products put up for auction and their bids. Event numbers come from topic_seq
-- (0005_realtime), topic 'product:<uuid>'.
-- depends: 0005_realtime

CREATE TABLE products (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seller_id         uuid NOT NULL REFERENCES users (id),
    product_name      text NOT NULL CHECK (length(product_name) BETWEEN 1 AND 100),
    description       text NOT NULL CHECK (length(description) BETWEEN 10 AND 255),
    baseprice         numeric(14,2) NOT NULL CHECK (baseprice > 0),
    min_increment     numeric(14,2) NOT NULL DEFAULT 0.01 CHECK (min_increment > 0),
    auction_end       timestamptz NOT NULL,
    extend_seconds    integer NOT NULL DEFAULT 0 CHECK (extend_seconds BETWEEN 0 AND 3600),
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
    -- The leading bid while open; kept as it was once closed.
    current_bid       numeric(14,2) CHECK (current_bid > 0),
    current_bidder_id uuid REFERENCES users (id),
    bid_count         integer NOT NULL DEFAULT 0 CHECK (bid_count >= 0),
    bidder_count      integer NOT NULL DEFAULT 0 CHECK (bidder_count >= 0 AND bidder_count <= bid_count),
    -- Set once, when the auction closes with at least one bid.
    winner_id         uuid REFERENCES users (id),
    winning_bid       numeric(14,2) CHECK (winning_bid > 0),
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((current_bid IS NULL) = (current_bidder_id IS NULL)),
    CHECK (current_bid IS NULL OR current_bid >= baseprice),
    CHECK ((winner_id IS NULL) = (winning_bid IS NULL)),
    CHECK (winner_id IS NULL OR status = 'closed'),
    CHECK ((status = 'open') = (closed_at IS NULL)),
    CHECK (status <> 'cancelled' OR bid_count = 0)
);
-- The closer's scan: open auctions by end.
CREATE INDEX products_open_end_idx ON products (auction_end) WHERE status = 'open';
-- Listing, newest first, optionally by status.
CREATE INDEX products_created_idx ON products (created_at, id);
CREATE INDEX products_status_created_idx ON products (status, created_at, id);
CREATE INDEX products_seller_idx ON products (seller_id);

CREATE TABLE bids (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    bidder_id   uuid NOT NULL REFERENCES users (id),
    bid_amount  numeric(14,2) NOT NULL CHECK (bid_amount > 0),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Bid history, newest first (keyset on created_at, id).
CREATE INDEX bids_product_created_idx ON bids (product_id, created_at, id);
-- Whether a bidder already bid on a product (the distinct-bidder count), and a user's own bids.
CREATE INDEX bids_product_bidder_idx ON bids (product_id, bidder_id);
CREATE INDEX bids_bidder_idx ON bids (bidder_id);
