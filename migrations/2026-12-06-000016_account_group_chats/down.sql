ALTER TABLE channel_accounts DROP COLUMN group_chats;
