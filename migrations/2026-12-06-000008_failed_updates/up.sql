-- Updates a channel sent that could not be stored for a reason other than the database
-- being unavailable (content the database refuses, a rule of ours broken). Each is kept
-- with its raw body for the account's administrators, and acknowledged to the channel,
-- so one bad update never blocks the ones behind it.
CREATE TABLE failed_updates (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES channel_accounts (id) ON DELETE CASCADE,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    error TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX failed_updates_account_idx ON failed_updates (account_id, id DESC);
CREATE INDEX failed_updates_received_idx ON failed_updates (received_at);
