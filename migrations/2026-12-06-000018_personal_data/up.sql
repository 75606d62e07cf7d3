-- R47, the personal-data kit (152-FZ).

-- Retention per account: texts and files of dialogs closed longer ago than this many
-- months are removed daily (NULL keeps them). A removed message keeps its row, direction,
-- times and delivery for the statistics; `redacted_at` says when and that it was.
ALTER TABLE channel_accounts ADD COLUMN retention_months INT
    CHECK (retention_months BETWEEN 1 AND 120);
ALTER TABLE messages ADD COLUMN redacted_at timestamptz;
-- Erasing a client on request leaves its rows (statistics) with the data replaced.
ALTER TABLE clients ADD COLUMN erased_at timestamptz;
ALTER TABLE interlocutors ADD COLUMN erased_at timestamptz;

-- Who read which client's card or dialog, and when.
CREATE TABLE data_access (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BIGINT,
    what TEXT NOT NULL,
    client_id BIGINT REFERENCES clients (id) ON DELETE SET NULL,
    dialog_id BIGINT REFERENCES dialogs (id) ON DELETE SET NULL
);
CREATE INDEX data_access_client_idx ON data_access (client_id, id DESC) WHERE client_id IS NOT NULL;
CREATE INDEX data_access_dialog_idx ON data_access (dialog_id, id DESC) WHERE dialog_id IS NOT NULL;
CREATE INDEX data_access_user_idx ON data_access (user_id, id DESC);

-- Consent given or withdrawn by an interlocutor: by the channel (subscribing, allowing
-- messages, blocking), by the website widget's form, or recorded by an operator.
CREATE TABLE consents (
    id BIGSERIAL PRIMARY KEY,
    interlocutor_id BIGINT NOT NULL REFERENCES interlocutors (id) ON DELETE CASCADE,
    given BOOLEAN NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('channel', 'widget', 'operator')),
    note TEXT NOT NULL DEFAULT '',
    recorded_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX consents_interlocutor_idx ON consents (interlocutor_id, id DESC);
