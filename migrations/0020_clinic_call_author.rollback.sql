ALTER TABLE calls DROP COLUMN called_by;
