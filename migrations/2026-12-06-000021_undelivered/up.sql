-- R44: a dialog with a reply that failed carries a mark in the list and counts in the
-- "Не доставлено" filter; this finds them.
CREATE INDEX outbox_failed_idx ON outbox (dialog_id) WHERE status = 'failed';
