ALTER TABLE channel_accounts DROP COLUMN demo;
