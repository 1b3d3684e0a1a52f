-- What the pages need (issue 16): a room's own route on the TV, and per-auction bidder pseudonyms.
-- depends: 0017_publish_event

-- A room may carry the route to it ("← Consultórios 1 a 4 - corredor A"): the TV shows the room's route when it
-- has one, the service's otherwise (sql/clinic.sql, call_announcement and record_call). NULL: none of its own.
ALTER TABLE rooms
    ADD COLUMN route_text text CHECK (length(route_text) BETWEEN 1 AND 200),
    ADD COLUMN direction  text CHECK (direction IN ('left', 'right', 'straight', 'up', 'down')),
    ADD CONSTRAINT rooms_route_whole CHECK ((route_text IS NULL) = (direction IS NULL));

-- A bidder's number within one auction ("Licitante 3"): the rank of their first bid among the auction's
-- bidders, so watchers can tell bidders apart without learning who they are. Numbers are never reused (a
-- withdrawn bidder keeps theirs), so the last one handed out is kept on the product.
ALTER TABLE products ADD COLUMN last_bidder_number integer NOT NULL DEFAULT 0;
ALTER TABLE bids ADD COLUMN bidder_number integer;

WITH firsts AS (
    SELECT product_id, bidder_id,
           row_number() OVER (PARTITION BY product_id ORDER BY min(id)) AS number
    FROM bids
    GROUP BY product_id, bidder_id
)
UPDATE bids b SET bidder_number = f.number
FROM firsts f
WHERE f.product_id = b.product_id AND f.bidder_id = b.bidder_id;

UPDATE products p SET last_bidder_number = n.last
FROM (SELECT product_id, max(bidder_number) AS last FROM bids GROUP BY product_id) n
WHERE n.product_id = p.id;

ALTER TABLE bids ALTER COLUMN bidder_number SET NOT NULL;
