-- R42: internal notes, messages of a dialog that only staff see (never sent to a channel),
-- and the users a note mentions, until they open the dialog.
ALTER TABLE messages DROP CONSTRAINT messages_direction_check;
ALTER TABLE messages ADD CONSTRAINT messages_direction_check
    CHECK (direction IN ('in', 'out', 'system', 'note'));
CREATE TABLE mentions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    dialog_id BIGINT NOT NULL REFERENCES dialogs (id) ON DELETE CASCADE,
    seen_at TIMESTAMPTZ,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX mentions_unseen_idx ON mentions (user_id, dialog_id) WHERE seen_at IS NULL;
