DROP TABLE channel_receipts;
DROP TABLE account_grants;
DROP TABLE channel_accounts;
