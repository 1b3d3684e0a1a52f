ALTER TABLE ticket_counters DROP COLUMN web_issued;
DROP TABLE clinic_kiosks;
