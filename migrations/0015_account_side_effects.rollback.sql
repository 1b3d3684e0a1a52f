-- Withdrawn bids then count as ordinary bids again in the bid history; the products keep the leader and
-- counters recomputed when the bids were withdrawn.
ALTER TABLE bids DROP COLUMN withdrawn_at;
