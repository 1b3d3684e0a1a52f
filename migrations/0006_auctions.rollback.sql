DROP TABLE bids;
DROP TABLE products;
DELETE FROM events WHERE topic LIKE 'product:%';
DELETE FROM topic_seq WHERE topic LIKE 'product:%';
