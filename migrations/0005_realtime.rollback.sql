DROP TABLE events;
DROP TABLE topic_seq;
