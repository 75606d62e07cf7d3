DROP TABLE consents;
DROP TABLE data_access;
ALTER TABLE interlocutors DROP COLUMN erased_at;
ALTER TABLE clients DROP COLUMN erased_at;
ALTER TABLE messages DROP COLUMN redacted_at;
ALTER TABLE channel_accounts DROP COLUMN retention_months;
