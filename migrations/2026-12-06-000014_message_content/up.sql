-- R48: what a message holds besides its text and files (a place, a contact card, a
-- sticker, a poll, a dice roll, an unknown kind by its platform name; the quoted message),
-- as `domain::content::Extras` writes it. NULL for a plain message.
ALTER TABLE messages ADD COLUMN content JSONB;
