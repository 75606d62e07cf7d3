DROP TABLE mentions;
DELETE FROM messages WHERE direction = 'note';
ALTER TABLE messages DROP CONSTRAINT messages_direction_check;
ALTER TABLE messages ADD CONSTRAINT messages_direction_check
    CHECK (direction IN ('in', 'out', 'system'));
