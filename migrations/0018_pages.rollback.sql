ALTER TABLE bids DROP COLUMN bidder_number;
ALTER TABLE products DROP COLUMN last_bidder_number;
ALTER TABLE rooms DROP COLUMN direction, DROP COLUMN route_text;
