CREATE INDEX bids_product_bidder_idx ON bids (product_id, bidder_id);
CREATE INDEX bids_bidder_idx ON bids (bidder_id);
DROP INDEX bids_bidder_product_idx;
DROP VIEW principals;
