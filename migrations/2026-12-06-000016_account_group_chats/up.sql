-- R48: whether an account takes messages from group chats (VK conversations, Telegram
-- groups); on by default, as before.
ALTER TABLE channel_accounts ADD COLUMN group_chats boolean NOT NULL DEFAULT true;
