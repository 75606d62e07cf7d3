ALTER TABLE messages DROP COLUMN sender;
