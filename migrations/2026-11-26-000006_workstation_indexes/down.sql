CREATE INDEX dialog_reads_user_idx ON dialog_reads (user_id);
DROP INDEX dialog_reads_user_dialog_idx;
DROP INDEX dialogs_active_unread_idx;
DROP INDEX dialogs_active_priority_idx;
DROP TRIGGER channel_accounts_priority ON channel_accounts;
DROP FUNCTION channel_accounts_spread_priority();
DROP TRIGGER dialogs_account_priority ON dialogs;
DROP FUNCTION dialogs_take_account_priority();
ALTER TABLE dialogs DROP COLUMN account_priority;
