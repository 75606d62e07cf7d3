DELETE FROM idempotency_keys WHERE credential_id <> 0;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys DROP COLUMN credential_id;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (user_id, key);
