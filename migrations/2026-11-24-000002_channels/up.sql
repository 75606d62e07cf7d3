-- Channel accounts (R1-R11): one row per Telegram bot, VK community, Viber bot or
-- WhatsApp number, with every setting of the account and who may use it.

CREATE TABLE channel_accounts (
    id                   BIGSERIAL PRIMARY KEY,
    kind                 TEXT NOT NULL CHECK (kind IN ('telegram', 'vk', 'viber', 'whatsapp')),
    name                 TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    -- Tokens, secrets and API URLs, shaped by kind. Written through the API, never returned.
    credentials          JSONB NOT NULL DEFAULT '{}',
    lead_source          BOOLEAN NOT NULL DEFAULT false,                        -- R3
    require_close_reason BOOLEAN NOT NULL DEFAULT false,                        -- R4
    create_clients       BOOLEAN NOT NULL DEFAULT true,                         -- R5
    responsible_user_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,       -- R6
    responsible_role_id  BIGINT REFERENCES roles (id) ON DELETE SET NULL,       -- R6
    auto_link_interests  BOOLEAN NOT NULL DEFAULT false,                        -- R7
    everyone_may_view    BOOLEAN NOT NULL DEFAULT false,                        -- R10
    priority             INTEGER NOT NULL DEFAULT 0,                            -- R16
    department_id        BIGINT REFERENCES departments (id) ON DELETE SET NULL, -- R11
    enabled              BOOLEAN NOT NULL DEFAULT true,
    -- Where the inbound poll stopped (Telegram offset, VK long-poll server and ts).
    poll_state           JSONB NOT NULL DEFAULT '{}',
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Deleting an account with history archives it; its dialogs stay readable.
    archived_at          TIMESTAMPTZ,
    CHECK (responsible_user_id IS NULL OR responsible_role_id IS NULL)
);
CREATE INDEX channel_accounts_kind_idx ON channel_accounts (kind) WHERE archived_at IS NULL;

-- Rights on an account (R9) for a user or for a role.
CREATE TABLE account_grants (
    id         BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES channel_accounts (id) ON DELETE CASCADE,
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    role_id    BIGINT REFERENCES roles (id) ON DELETE CASCADE,
    can_view   BOOLEAN NOT NULL DEFAULT true,
    can_send   BOOLEAN NOT NULL DEFAULT false,
    can_admin  BOOLEAN NOT NULL DEFAULT false,
    CHECK ((user_id IS NULL) <> (role_id IS NULL))
);
CREATE UNIQUE INDEX account_grants_user_key ON account_grants (account_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX account_grants_role_key ON account_grants (account_id, role_id) WHERE role_id IS NOT NULL;
CREATE INDEX account_grants_user_idx ON account_grants (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX account_grants_role_idx ON account_grants (role_id) WHERE role_id IS NOT NULL;

-- Channel deliveries that are not messages (VK event_id, WhatsApp statuses, Viber
-- delivered/seen), remembered so a redelivery is acknowledged and dropped.
CREATE TABLE channel_receipts (
    account_id  BIGINT NOT NULL REFERENCES channel_accounts (id) ON DELETE CASCADE,
    receipt_key TEXT NOT NULL CHECK (length(receipt_key) BETWEEN 1 AND 300),
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, receipt_key)
);
CREATE INDEX channel_receipts_received_idx ON channel_receipts (received_at);
