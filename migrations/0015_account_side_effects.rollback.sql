ALTER TABLE bids DROP COLUMN withdrawn_at;
