-- The workstation's queries at 100,000 dialogs: each walks a short stretch of an index in
-- the order it shows, instead of sorting or hashing every dialog.

-- R16, the list by channel priority: the account's priority is copied onto its dialogs so
-- one index gives the order (priority, newest first) of the active dialogs. The copy
-- follows the account: set when a dialog is written, rewritten when the priority changes.
ALTER TABLE dialogs ADD COLUMN account_priority INTEGER NOT NULL DEFAULT 0;
UPDATE dialogs d SET account_priority = a.priority
FROM channel_accounts a WHERE a.id = d.account_id AND d.account_priority <> a.priority;

CREATE FUNCTION dialogs_take_account_priority() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE waits for an uncommitted priority change of the account and reads its
    -- result; a later change waits for this dialog's transaction and then rewrites it too.
    SELECT priority INTO NEW.account_priority
    FROM channel_accounts WHERE id = NEW.account_id FOR SHARE;
    RETURN NEW;
END;
$$;
CREATE TRIGGER dialogs_account_priority BEFORE INSERT OR UPDATE OF account_id ON dialogs
    FOR EACH ROW EXECUTE FUNCTION dialogs_take_account_priority();

CREATE FUNCTION channel_accounts_spread_priority() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dialogs SET account_priority = NEW.priority
    WHERE account_id = NEW.id AND account_priority <> NEW.priority;
    RETURN NULL;
END;
$$;
CREATE TRIGGER channel_accounts_priority AFTER UPDATE OF priority ON channel_accounts
    FOR EACH ROW WHEN (OLD.priority IS DISTINCT FROM NEW.priority)
    EXECUTE FUNCTION channel_accounts_spread_priority();

CREATE INDEX dialogs_active_priority_idx
    ON dialogs (account_priority DESC, last_message_at DESC NULLS LAST, id DESC)
    WHERE status <> 'closed';

-- R14, the counters: every active dialog with what decides whether it is unread, read
-- from the index alone, joined in dialog order to the user's read marks.
CREATE INDEX dialogs_active_unread_idx
    ON dialogs (id) INCLUDE (status, account_id, last_inbound_message_id)
    WHERE status <> 'closed';
CREATE INDEX dialog_reads_user_dialog_idx
    ON dialog_reads (user_id, dialog_id) INCLUDE (last_read_message_id);
DROP INDEX dialog_reads_user_idx;
