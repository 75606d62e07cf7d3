-- An Idempotency-Key belongs to the credential (session or API token) that sent it, not
-- to its user: another token of the same user, with other scopes, never sees its answer.
ALTER TABLE idempotency_keys ADD COLUMN credential_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (user_id, credential_id, key);
