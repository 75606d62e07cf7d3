-- Who wrote an inbound message in a group conversation (a VK conversation, a Telegram
-- group): {"external_id": "...", "name": "..."}. The dialog's interlocutor is the
-- conversation itself; private messages leave this empty.
ALTER TABLE messages ADD COLUMN sender JSONB;
