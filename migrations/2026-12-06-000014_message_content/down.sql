ALTER TABLE messages DROP COLUMN content;
