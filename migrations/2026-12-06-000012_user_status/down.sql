ALTER TABLE users DROP COLUMN status, DROP COLUMN status_since;
