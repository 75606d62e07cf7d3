DROP TABLE web_visits;
ALTER TABLE channel_accounts DROP CONSTRAINT channel_accounts_kind_check;
ALTER TABLE channel_accounts ADD CONSTRAINT channel_accounts_kind_check
    CHECK (kind IN ('telegram', 'vk', 'viber', 'whatsapp', 'max'));
