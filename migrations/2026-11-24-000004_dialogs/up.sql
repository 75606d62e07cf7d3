-- Dialogs, their messages and attachments, read marks, tasks, the outbound outbox and
-- the events log that Server-Sent Events replay from.

CREATE SEQUENCE dialog_number_seq;

CREATE TABLE dialogs (
    id                      BIGSERIAL PRIMARY KEY,
    number                  BIGINT NOT NULL DEFAULT nextval('dialog_number_seq') UNIQUE, -- R33
    -- A name given by an operator (R33); NULL shows the automatic "Dialog No. {number}".
    title                   TEXT CHECK (title IS NULL OR length(btrim(title)) BETWEEN 1 AND 300),
    account_id              BIGINT NOT NULL REFERENCES channel_accounts (id),
    interlocutor_id         BIGINT NOT NULL REFERENCES interlocutors (id),
    client_id               BIGINT REFERENCES clients (id),
    status                  TEXT NOT NULL DEFAULT 'new'
                            CHECK (status IN ('new', 'accepted', 'returned', 'closed')), -- R18
    responsible_user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    responsible_role_id     BIGINT REFERENCES roles (id) ON DELETE SET NULL,
    is_lead                 BOOLEAN NOT NULL DEFAULT false,                              -- R3
    interest_id             BIGINT REFERENCES interests (id) ON DELETE SET NULL,         -- R22/R23
    close_reason_id         BIGINT REFERENCES close_reasons (id),                        -- R25
    close_comment           TEXT,
    closed_by               BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    accepted_at             TIMESTAMPTZ,
    closed_at               TIMESTAMPTZ,
    last_message_at         TIMESTAMPTZ,
    last_message_preview    TEXT NOT NULL DEFAULT '',
    last_message_direction  TEXT CHECK (last_message_direction IN ('in', 'out', 'system')),
    -- The newest inbound message: a user has unread messages when their read mark is below it.
    last_inbound_message_id BIGINT,
    -- Bumped by every change; guarded updates check it (WHERE version = …).
    version                 BIGINT NOT NULL DEFAULT 0,
    CHECK (responsible_user_id IS NULL OR responsible_role_id IS NULL),
    CHECK (status <> 'accepted' OR responsible_user_id IS NOT NULL),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
-- R19: one active dialog per interlocutor per account, whatever the application does.
CREATE UNIQUE INDEX dialogs_one_active_per_interlocutor
    ON dialogs (account_id, interlocutor_id) WHERE status <> 'closed';
CREATE INDEX dialogs_account_status_idx ON dialogs (account_id, status, last_message_at DESC, id DESC);
CREATE INDEX dialogs_recent_idx ON dialogs (last_message_at DESC NULLS LAST, id DESC);
CREATE INDEX dialogs_client_idx ON dialogs (client_id, created_at DESC);
CREATE INDEX dialogs_interlocutor_idx ON dialogs (interlocutor_id);
CREATE INDEX dialogs_responsible_user_idx ON dialogs (responsible_user_id) WHERE status <> 'closed';
CREATE INDEX dialogs_responsible_role_idx ON dialogs (responsible_role_id) WHERE status <> 'closed';
CREATE INDEX dialogs_interest_idx ON dialogs (interest_id) WHERE interest_id IS NOT NULL;
CREATE INDEX dialogs_closed_idx ON dialogs (closed_at, close_reason_id) WHERE status = 'closed';

ALTER TABLE interests ADD CONSTRAINT interests_basis_dialog_fkey
    FOREIGN KEY (basis_dialog_id) REFERENCES dialogs (id) ON DELETE SET NULL;

CREATE TABLE messages (
    id                 BIGSERIAL PRIMARY KEY,
    dialog_id          BIGINT NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    account_id         BIGINT NOT NULL REFERENCES channel_accounts (id),
    direction          TEXT NOT NULL CHECK (direction IN ('in', 'out', 'system')),
    -- The operator who wrote an outbound message, or who caused a system line.
    author_user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    text               TEXT NOT NULL DEFAULT '' CHECK (length(text) <= 100000),
    -- The channel's own id of the message, formed by the channel module so that it is
    -- unique within the account (e.g. Telegram "chat_id:message_id").
    channel_message_id TEXT CHECK (channel_message_id IS NULL OR length(channel_message_id) BETWEEN 1 AND 300),
    delivery           TEXT CHECK (delivery IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    delivery_error     TEXT,
    -- For system lines: what happened (accepted, redirected, closed, renamed, rule, …) and its details.
    system_kind        TEXT,
    system_data        JSONB,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The time the channel gives for the message, when it gives one.
    channel_sent_at    TIMESTAMPTZ,
    edited_at          TIMESTAMPTZ,
    CHECK ((direction = 'out') = (delivery IS NOT NULL)),
    CHECK ((direction = 'system') = (system_kind IS NOT NULL))
);
-- One stored copy of each channel message, however often the channel delivers it.
CREATE UNIQUE INDEX messages_channel_message_key ON messages (account_id, channel_message_id);
CREATE INDEX messages_dialog_idx ON messages (dialog_id, id DESC);
CREATE INDEX messages_text_trgm ON messages USING gin (text gin_trgm_ops);

-- Earlier versions of an edited message (the message row holds the newest text).
CREATE TABLE message_edits (
    id         BIGSERIAL PRIMARY KEY,
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    old_text   TEXT NOT NULL,
    edited_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX message_edits_message_idx ON message_edits (message_id);

CREATE TABLE attachments (
    id              BIGSERIAL PRIMARY KEY,
    message_id      BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('image', 'file', 'link', 'audio', 'video')),
    file_name       TEXT NOT NULL DEFAULT '' CHECK (length(file_name) <= 255),
    mime_type       TEXT,
    size_bytes      BIGINT CHECK (size_bytes IS NULL OR size_bytes >= 0),
    -- A server-generated path under the data folder, never a name from outside.
    storage_path    TEXT,
    -- The channel's reference to the file, when it is kept there and fetched on demand.
    channel_file_id TEXT,
    url             TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX attachments_message_idx ON attachments (message_id);

-- Per-user read marks: a dialog is unread for a user while last_inbound_message_id is above it.
CREATE TABLE dialog_reads (
    dialog_id            BIGINT NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    user_id              BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_message_id BIGINT NOT NULL,
    read_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (dialog_id, user_id)
);
CREATE INDEX dialog_reads_user_idx ON dialog_reads (user_id);

-- Personal tasks and assignments (R27/R28).
CREATE TABLE tasks (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('personal', 'assignment')),
    title        TEXT NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    description  TEXT NOT NULL DEFAULT '',
    dialog_id    BIGINT REFERENCES dialogs (id) ON DELETE SET NULL,
    client_id    BIGINT REFERENCES clients (id) ON DELETE SET NULL,
    author_id    BIGINT NOT NULL REFERENCES users (id),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    due_at       TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    CHECK ((status = 'open') = (completed_at IS NULL))
);
CREATE INDEX tasks_dialog_idx ON tasks (dialog_id);
CREATE INDEX tasks_author_idx ON tasks (author_id, status);

CREATE TABLE task_assignees (
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX task_assignees_user_idx ON task_assignees (user_id);

-- Outbound messages waiting for the channel: written in the operator's transaction,
-- sent after commit, retried with backoff.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    message_id      BIGINT NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    account_id      BIGINT NOT NULL REFERENCES channel_accounts (id),
    dialog_id       BIGINT NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    -- Stays the same across retries; channels that take an idempotency key get this one.
    delivery_key    TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due_idx ON outbox (account_id, next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX outbox_dialog_idx ON outbox (dialog_id, id) WHERE status IN ('queued', 'sending');

-- Every committed state change, in commit order (writers take an advisory lock before
-- appending, so a higher id never commits before a lower one). SSE replays from here.
CREATE TABLE events (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    account_id BIGINT,
    dialog_id  BIGINT,
    -- For events meant for one user only (their tasks, their counters).
    user_id    BIGINT,
    payload    JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_created_idx ON events (created_at);
