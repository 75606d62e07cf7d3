-- The CRM objects around a dialog: clients and prospects (R5), their contact persons,
-- their identities on channel accounts, interests (deals), close reasons, rules (R8).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE clients (
    id             BIGSERIAL PRIMARY KEY,
    kind           TEXT NOT NULL DEFAULT 'client' CHECK (kind IN ('client', 'prospect')),
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    phone          TEXT,
    email          TEXT,
    notes          TEXT NOT NULL DEFAULT '',
    -- Set when this client was merged into another; the row stays for history.
    merged_into_id BIGINT REFERENCES clients (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (merged_into_id IS NULL OR merged_into_id <> id)
);
CREATE INDEX clients_name_trgm ON clients USING gin (name gin_trgm_ops);

CREATE TABLE contact_persons (
    id         BIGSERIAL PRIMARY KEY,
    client_id  BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    position   TEXT NOT NULL DEFAULT '',
    phone      TEXT,
    email      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX contact_persons_client_idx ON contact_persons (client_id);
CREATE INDEX contact_persons_name_trgm ON contact_persons USING gin (name gin_trgm_ops);

CREATE TABLE client_merges (
    id              BIGSERIAL PRIMARY KEY,
    from_client_id  BIGINT NOT NULL REFERENCES clients (id),
    into_client_id  BIGINT NOT NULL REFERENCES clients (id),
    merged_by       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    merged_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    details         JSONB NOT NULL DEFAULT '{}'
);

-- A person's identity on one channel account (собеседник), linked to a client.
CREATE TABLE interlocutors (
    id                BIGSERIAL PRIMARY KEY,
    account_id        BIGINT NOT NULL REFERENCES channel_accounts (id) ON DELETE CASCADE,
    -- The channel's id of the chat or user (Telegram chat id, VK peer id, Viber user id, WhatsApp wa_id).
    external_id       TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    display_name      TEXT NOT NULL DEFAULT '',
    username          TEXT,
    client_id         BIGINT REFERENCES clients (id),
    contact_person_id BIGINT REFERENCES contact_persons (id) ON DELETE SET NULL,
    profile           JSONB NOT NULL DEFAULT '{}',
    -- The person blocked the bot or unsubscribed: outbound messages fail at once.
    blocked_at        TIMESTAMPTZ,
    -- The last inbound message (the WhatsApp 24-hour window starts here).
    last_inbound_at   TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id)
);
CREATE INDEX interlocutors_client_idx ON interlocutors (client_id);
CREATE INDEX interlocutors_name_trgm ON interlocutors USING gin (display_name gin_trgm_ops);

CREATE TABLE interests (
    id                  BIGSERIAL PRIMARY KEY,
    client_id           BIGINT NOT NULL REFERENCES clients (id),
    title               TEXT NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    description         TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'won', 'lost')),
    amount_minor        BIGINT CHECK (amount_minor IS NULL OR amount_minor >= 0),
    currency            TEXT CHECK (currency IS NULL OR currency ~ '^[A-Z]{3}$'),
    responsible_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The dialog the interest was created from (accept lead, R22); FK added with dialogs.
    basis_dialog_id     BIGINT,
    created_by          BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at           TIMESTAMPTZ,
    CHECK ((status = 'active') = (closed_at IS NULL))
);
CREATE INDEX interests_client_idx ON interests (client_id, status, created_at DESC);

CREATE TABLE close_reasons (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    is_default BOOLEAN NOT NULL DEFAULT false,
    archived   BOOLEAN NOT NULL DEFAULT false,
    position   INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX close_reasons_name_key ON close_reasons (lower(name));
CREATE UNIQUE INDEX close_reasons_one_default ON close_reasons (is_default) WHERE is_default;
INSERT INTO close_reasons (name, is_default, position) VALUES ('Нет ответа', true, 0);

-- Automatic processing of inbound messages (R8): per account or global (account_id NULL),
-- applied in position order. Conditions and actions are validated by the domain before saving.
CREATE TABLE rules (
    id              BIGSERIAL PRIMARY KEY,
    account_id      BIGINT REFERENCES channel_accounts (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    position        INTEGER NOT NULL DEFAULT 0,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    stop_processing BOOLEAN NOT NULL DEFAULT false,
    conditions      JSONB NOT NULL DEFAULT '[]',
    actions         JSONB NOT NULL DEFAULT '[]',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX rules_account_idx ON rules (account_id, position) WHERE enabled;
