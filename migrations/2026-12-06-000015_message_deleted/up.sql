-- R48: a message the interlocutor deleted (WhatsApp `revoke`) keeps its row, its files and
-- its text in `message_edits`; the row shows that and when.
ALTER TABLE messages ADD COLUMN deleted_at timestamptz;
