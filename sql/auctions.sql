-- Auctions (docs/rules/auctions.md): products, bids, closing. Events of an auction go to topic 'product:<id>' through
-- publish_event() (migrations/0017_publish_event.sql) in the same transaction as the change they announce.
-- Time checks use clock_timestamp(), not now(): a transaction that waited for a product's row lock must judge
-- "has the auction ended?" at the moment it holds the lock, not when it began.

-- name: create_product
-- A new open auction. min_increment and extend_seconds fall back to the column defaults when NULL.
INSERT INTO products (seller_id, product_name, description, baseprice, min_increment, auction_end, extend_seconds)
VALUES (:seller_id, :product_name, :description, :baseprice,
        COALESCE(:min_increment::numeric, 0.01), :auction_end, COALESCE(:extend_seconds::integer, 0))
RETURNING id;

-- name: create_product_with_id
-- Demo data: the same product at every run (ON CONFLICT keeps the seed idempotent); nothing when it exists.
INSERT INTO products (id, seller_id, product_name, description, baseprice, min_increment, auction_end,
                      extend_seconds)
VALUES (:id, :seller_id, :product_name, :description, :baseprice, :min_increment, :auction_end, :extend_seconds)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: product_view
-- One product as the API shows it, with the smallest acceptable next bid and the last seq of its topic. Read
-- in one statement, so the state and the seq describe the same moment (the WebSocket snapshot relies on it).
SELECT p.id, p.seller_id, p.product_name, p.description, p.baseprice, p.min_increment,
       p.auction_end, p.auction_end AS ends_at, p.extend_seconds, p.status,
       COALESCE(p.current_bid, p.baseprice) AS current_price,
       p.current_bid, p.current_bidder_id,
       (SELECT b.bidder_number FROM bids b WHERE b.product_id = p.id AND b.bidder_id = p.current_bidder_id
        LIMIT 1) AS current_bidder,
       CASE WHEN p.current_bid IS NULL THEN p.baseprice
            ELSE GREATEST(p.baseprice, p.current_bid + p.min_increment) END AS minimum_bid,
       p.bid_count, p.bidder_count, p.winner_id,
       (SELECT b.bidder_number FROM bids b WHERE b.product_id = p.id AND b.bidder_id = p.winner_id LIMIT 1) AS winner,
       p.winning_bid, p.closed_at, p.created_at, p.updated_at,
       COALESCE((SELECT ts.last_seq FROM topic_seq ts WHERE ts.topic = 'product:' || p.id::text), 0) AS last_seq
FROM products p
WHERE p.id = :product_id;

-- name: product_exists
SELECT EXISTS (SELECT 1 FROM products WHERE id = :product_id) AS found;

-- name: product_seller
-- Whether a logged-in reader of a bid history sells the product (they then read the bidders' ids).
SELECT seller_id FROM products WHERE id = :product_id;

-- name: list_products
-- Products newest first, keyset-paginated on (created_at, id) after (:after_created_at, :after_id) (NULL: the
-- first page); fetches :limit + 1. One status: list_products_by_status. The missing cursor is written as the
-- highest bound rather than `:x IS NULL OR`, so the one generic plan starts its walk of products_created_idx at
-- the cursor (docs/performance.md, "Plans").
SELECT p.id, p.seller_id, p.product_name, p.description, p.baseprice, p.min_increment,
       p.auction_end AS ends_at, p.status,
       COALESCE(p.current_bid, p.baseprice) AS current_price, p.current_bid, p.current_bidder_id,
       p.bid_count, p.bidder_count, p.winner_id, p.winning_bid, p.created_at
FROM products p
WHERE (p.created_at, p.id) < (COALESCE(:after_created_at::timestamptz, 'infinity'::timestamptz),
                              COALESCE(:after_id::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid))
ORDER BY p.created_at DESC, p.id DESC
LIMIT :limit + 1;

-- name: list_products_by_status
-- list_products of one status: a walk of products_status_created_idx (status, created_at, id) from the cursor,
-- where an optional `:status IS NULL OR` filter left the generic plan walking every product's created_at and
-- filtering (a status nobody has read the whole table).
SELECT p.id, p.seller_id, p.product_name, p.description, p.baseprice, p.min_increment,
       p.auction_end AS ends_at, p.status,
       COALESCE(p.current_bid, p.baseprice) AS current_price, p.current_bid, p.current_bidder_id,
       p.bid_count, p.bidder_count, p.winner_id, p.winning_bid, p.created_at
FROM products p
WHERE p.status = :status
  AND (p.created_at, p.id) < (COALESCE(:after_created_at::timestamptz, 'infinity'::timestamptz),
                              COALESCE(:after_id::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid))
ORDER BY p.created_at DESC, p.id DESC
LIMIT :limit + 1;

-- name: list_bids
-- A product's bid history, newest first, keyset-paginated on (created_at, id); fetches :limit + 1. Withdrawn
-- bids (their bidder was deactivated) stay stored for the audit but are no longer shown.
SELECT b.id, b.product_id, b.bidder_id, b.bidder_number AS bidder, b.bid_amount AS amount, b.created_at
FROM bids b
WHERE b.product_id = :product_id AND b.withdrawn_at IS NULL
  AND (:after_created_at::timestamptz IS NULL
       OR (b.created_at, b.id) < (:after_created_at::timestamptz, :after_id::bigint))
ORDER BY b.created_at DESC, b.id DESC
LIMIT :limit + 1;

-- name: lock_bidder_session
-- First statement of a bid (docs/rules/realtime.md guarantee 7): locks the bidder's session row FOR KEY SHARE (bids of one
-- session do not wait for each other, but a logout's or revocation's DELETE waits for the bid in flight, so no
-- bid commits after the session's end was answered) and refreshes its idle timer as a request does (a socket's
-- bid is activity). Taken BEFORE the product's lock: a transaction that ends sessions and also writes products
-- must take them in the same order (sessions first) or the two can deadlock. place_bid judges whether the
-- session is live. Nothing happens when :session_hash is NULL (demo data, placed without a session).
WITH held AS (
    SELECT s.token_hash
    FROM sessions s
    WHERE s.token_hash = :session_hash AND s.user_id = :bidder_id
    FOR KEY SHARE
)
UPDATE sessions s SET last_seen_at = now()
FROM held
WHERE s.token_hash = held.token_hash
  AND session_is_live(s.kind, s.expires_at, s.last_seen_at, :idle_seconds)
  AND s.last_seen_at < now() - least(interval '60 seconds', make_interval(secs => :idle_seconds / 10.0))
RETURNING s.token_hash;

-- name: lock_product
-- Second statement of a bid: waits for and locks the product's row, so every bid on one product is serialized
-- here, on any process. The app sends it in ONE pipeline with lock_bidder_session and place_bid, ended by one
-- Sync (one round trip, one implicit transaction: Repository._atomic_pipeline); PostgreSQL runs place_bid only after
-- this returns, so place_bid's snapshot is taken while the lock is held and sees every earlier bid (a single
-- statement would judge a stale snapshot: its plain reads, such as the distinct-bidder check, keep the values
-- from before the wait). No row: unknown product.
SELECT id FROM products WHERE id = :product_id FOR UPDATE;

-- name: place_bid
-- The rest of a bid, in one statement, run right after lock_product in the same transaction: judges the bid on
-- the locked row at this moment (clock_timestamp()), and when accepted records the bid, moves the product's
-- leading bid, counters and (anti-sniping: a bid within extend_seconds of the end moves the end to
-- at + extend_seconds) its end, and publishes its events with publish_event() (migrations/0017_publish_event.sql,
-- the function sql/realtime.sql's publish_event calls too): kind 4 with :origin when given, then kind 7 when the
-- end moved. Their shapes are NewBid and Extended in app/auctions/wire.py (tests/test_auctions_wire.py checks
-- these payloads against them); SQL builds them because their fields (the bid's id, the moved end) exist only
-- inside this statement, and the bid stays one round trip.
-- outcome is 'session_ended' (the bidder's session :session_hash is no longer live, or its account no longer
-- active: checked here, in the bid's own transaction, whatever the socket or request believed), 'accepted',
-- 'closed' (not open any more), 'ended' (end passed, not yet closed by the closer), 'own_auction' or 'too_low';
-- minimum is the smallest acceptable amount before this bid; seq is the kind 4 event's; published counts the
-- events (reading both CTEs is what runs them: a CTE without data-modifying statements runs only when read).
-- No row: unknown product.
WITH locked AS (
    SELECT p.id, p.seller_id, p.status, p.baseprice, p.min_increment, p.auction_end, p.extend_seconds,
           -- The bidder's pseudonym in this auction: theirs since their first bid, else the next number.
           COALESCE((SELECT b.bidder_number FROM bids b WHERE b.product_id = p.id AND b.bidder_id = :bidder_id::uuid
                     LIMIT 1), p.last_bidder_number + 1) AS bidder_number,
           CASE WHEN p.current_bid IS NULL THEN p.baseprice
                ELSE GREATEST(p.baseprice, p.current_bid + p.min_increment) END AS minimum,
           clock_timestamp() AS at,
           (:session_hash::bytea IS NULL OR EXISTS (
               SELECT 1
               FROM sessions s
               JOIN users u ON u.id = s.user_id AND u.active
               WHERE s.token_hash = :session_hash AND s.user_id = :bidder_id::uuid
                 AND session_is_live(s.kind, s.expires_at, s.last_seen_at, :idle_seconds))) AS session_live
    FROM products p
    WHERE p.id = :product_id
), judged AS (
    SELECT l.*,
           CASE WHEN NOT l.session_live THEN 'session_ended'
                WHEN l.status <> 'open' THEN 'closed'
                WHEN l.at >= l.auction_end THEN 'ended'
                WHEN l.seller_id = :bidder_id::uuid THEN 'own_auction'
                WHEN :amount::numeric < l.minimum THEN 'too_low'
                ELSE 'accepted' END AS outcome,
           CASE WHEN l.extend_seconds > 0 AND l.auction_end < l.at + make_interval(secs => l.extend_seconds)
                THEN l.at + make_interval(secs => l.extend_seconds)
                ELSE l.auction_end END AS new_end,
           'product:' || l.id::text AS topic
    FROM locked l
), accepted AS (
    SELECT j.*, (j.new_end <> j.auction_end) AS extended FROM judged j WHERE j.outcome = 'accepted'
), bid AS (
    INSERT INTO bids (product_id, bidder_id, bid_amount, created_at, bidder_number)
    SELECT a.id, :bidder_id::uuid, :amount::numeric, a.at, a.bidder_number FROM accepted a
    RETURNING id, created_at
), product AS (
    UPDATE products p
    SET current_bid = :amount::numeric,
        current_bidder_id = :bidder_id::uuid,
        bid_count = p.bid_count + 1,
        last_bidder_number = GREATEST(p.last_bidder_number, a.bidder_number),
        bidder_count = p.bidder_count
            + CASE WHEN EXISTS (SELECT 1 FROM bids b WHERE b.product_id = p.id AND b.bidder_id = :bidder_id::uuid
                                          AND b.withdrawn_at IS NULL)
                   THEN 0 ELSE 1 END,
        auction_end = a.new_end,
        updated_at = a.at
    FROM accepted a
    WHERE p.id = a.id
    RETURNING p.id
), new_bid AS (
    SELECT publish_event(a.topic,
                         jsonb_build_object('kind', 4, 'amount', :amount::numeric, 'user_id', :bidder_id::uuid,
                                            'bidder', a.bidder_number, 'bid_id', b.id, 'ends_at', a.new_end,
                                            'minimum_bid', GREATEST(a.baseprice, :amount::numeric + a.min_increment))
                         || CASE WHEN :origin::text IS NULL THEN '{}'::jsonb
                                 ELSE jsonb_build_object('origin', :origin::text) END) AS seq
    FROM accepted a, bid b
), extension AS (
    -- Joined to new_bid so that kind 4 is published (numbered and notified) before kind 7.
    SELECT publish_event(a.topic,
                         jsonb_build_object('kind', 7, 'ends_at', a.new_end,
                                            'message', 'A late bid extended the auction by ' || a.extend_seconds
                                                       || ' s')) AS seq
    FROM accepted a, new_bid n
    WHERE a.extended
)
SELECT j.outcome, j.status, j.minimum, j.extend_seconds, j.at,
       b.id AS bid_id, b.created_at, j.bidder_number,
       CASE WHEN b.id IS NULL THEN j.auction_end ELSE j.new_end END AS ends_at,
       (b.id IS NOT NULL AND j.new_end <> j.auction_end) AS extended,
       GREATEST(j.baseprice, :amount::numeric + j.min_increment) AS minimum_bid,
       (SELECT seq FROM new_bid) AS seq,
       (SELECT count(*) FROM new_bid) + (SELECT count(*) FROM extension) AS published
FROM judged j
LEFT JOIN bid b ON true;

-- name: cancel_product
-- The seller withdraws an open auction that has no bid yet. Locks the row first (a concurrent bid either
-- committed before, and then bid_count > 0, or waits and then finds the auction cancelled). Returns the state
-- found and whether it was cancelled; no row: unknown product.
WITH target AS (
    SELECT id, seller_id, status, bid_count, auction_end, clock_timestamp() AS at
    FROM products
    WHERE id = :product_id
    FOR UPDATE
), cancelled AS (
    UPDATE products p
    SET status = 'cancelled', closed_at = t.at, updated_at = t.at
    FROM target t
    WHERE p.id = t.id AND t.seller_id = :seller_id AND t.status = 'open' AND t.bid_count = 0
      AND t.at < t.auction_end
    RETURNING p.id
)
SELECT t.seller_id, t.status, t.bid_count, (t.at >= t.auction_end) AS ended,
       EXISTS (SELECT 1 FROM cancelled) AS cancelled
FROM target t;

-- name: lock_due_auctions
-- The closer (every process runs it every CLOSER_INTERVAL seconds, and once at start-up): a batch of open
-- auctions whose end has passed, locked. SKIP LOCKED: a row another process is closing (or a bid is being
-- placed on) is left to that transaction, so an auction is closed exactly once; a bid that extended the end is
-- re-checked by FOR UPDATE and no longer qualifies. :skip holds the auctions that failed to close in this pass
-- (app/auctions/service.close_due_auctions), so that one of them never holds back the others.
-- statement_timestamp(), not clock_timestamp() (see the top): it waits for no lock (SKIP LOCKED), and a stable
-- function bounds the scan of products_open_end_idx where a volatile one is only a filter, which read every
-- open auction's entry and row whenever fewer than :limit were due (docs/performance.md).
SELECT id
FROM products
WHERE status = 'open' AND auction_end <= statement_timestamp() AND NOT (id = ANY (:skip::uuid[]))
ORDER BY auction_end
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: close_auction
-- One auction of lock_due_auctions' batch (locked by it) becomes closed with its winner and winning bid.
UPDATE products p
SET status = 'closed',
    winner_id = p.current_bidder_id,
    winning_bid = p.current_bid,
    closed_at = clock_timestamp(),
    updated_at = clock_timestamp()
WHERE p.id = :product_id AND p.status = 'open'
RETURNING p.id, p.winner_id,
          (SELECT b.bidder_number FROM bids b WHERE b.product_id = p.id AND b.bidder_id = p.winner_id LIMIT 1) AS winner,
          p.winning_bid, p.auction_end, p.bid_count;
-- name: lock_auctions_of_user
-- The open auctions the user sells or has a live bid on, locked (in id order, like every multi-row lock here)
-- so no bid lands on them until the account's change commits; a row a concurrent bid changed is re-read after
-- its lock wait (READ COMMITTED), so leading and bid_count are current. Deletion is refused while any row leads
-- or sells with bids.
SELECT p.id, p.seller_id = :user_id AS selling, p.current_bidder_id IS NOT DISTINCT FROM :user_id AS leading,
       p.bid_count
FROM products p
WHERE p.status = 'open'
  AND (p.seller_id = :user_id
       OR EXISTS (SELECT 1 FROM bids b
                  WHERE b.product_id = p.id AND b.bidder_id = :user_id AND b.withdrawn_at IS NULL))
ORDER BY p.id
FOR UPDATE OF p;

-- name: withdraw_bids_of_user
-- Withdraws the user's live bids on open auctions (kept, with withdrawn_at) and recomputes each product from
-- the bids that remain: the best one leads, the counters count live bids only. Runs after
-- lock_auctions_of_user, as its own statement, so its snapshot holds every bid committed before the locks.
-- Within this one statement the bids table still shows the withdrawn rows as live, hence the bidder filter.
-- One row per changed product, with what its kind 8 event announces.
WITH withdrawn AS (
    UPDATE bids b
    SET withdrawn_at = clock_timestamp()
    FROM products p
    WHERE p.id = b.product_id AND p.status = 'open' AND b.bidder_id = :user_id AND b.withdrawn_at IS NULL
    RETURNING b.product_id, b.id
), affected AS (
    SELECT product_id AS id, array_agg(id ORDER BY id) AS bid_ids FROM withdrawn GROUP BY product_id
), recomputed AS (
    SELECT a.id, a.bid_ids, best.bid_amount, best.bidder_id,
           (SELECT count(*) FROM bids b
            WHERE b.product_id = a.id AND b.withdrawn_at IS NULL AND b.bidder_id <> :user_id) AS bid_count,
           (SELECT count(DISTINCT b.bidder_id) FROM bids b
            WHERE b.product_id = a.id AND b.withdrawn_at IS NULL AND b.bidder_id <> :user_id) AS bidder_count
    FROM affected a
    LEFT JOIN LATERAL (
        SELECT b.bid_amount, b.bidder_id FROM bids b
        WHERE b.product_id = a.id AND b.withdrawn_at IS NULL AND b.bidder_id <> :user_id
        ORDER BY b.bid_amount DESC, b.id DESC
        LIMIT 1
    ) best ON true
)
UPDATE products p
SET current_bid = r.bid_amount,
    current_bidder_id = r.bidder_id,
    bid_count = r.bid_count,
    bidder_count = r.bidder_count,
    updated_at = clock_timestamp()
FROM recomputed r
WHERE p.id = r.id
RETURNING p.id, p.current_bid, p.current_bidder_id,
          (SELECT b.bidder_number FROM bids b WHERE b.product_id = p.id AND b.bidder_id = p.current_bidder_id
           LIMIT 1) AS current_bidder,
          COALESCE(p.current_bid, p.baseprice) AS current_price,
          CASE WHEN p.current_bid IS NULL THEN p.baseprice
               ELSE GREATEST(p.baseprice, p.current_bid + p.min_increment) END AS minimum_bid,
          p.bid_count, p.bidder_count, p.auction_end AS ends_at, r.bid_ids AS withdrawn_bid_ids;

-- name: cancel_auctions_of_seller
-- The user's open auctions that have no live bid are cancelled (those with bids keep running: docs/security.md).
UPDATE products
SET status = 'cancelled', closed_at = clock_timestamp(), updated_at = clock_timestamp()
WHERE seller_id = :user_id AND status = 'open' AND bid_count = 0
RETURNING id;
