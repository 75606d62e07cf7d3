-- R41: quick replies — templates an operator inserts into the composer with "/", each
-- personal (its owner's), an account's (whoever may view it uses them, its administrators
-- edit them) or global (everyone uses them, the program's administrators edit them).
CREATE TABLE quick_replies (
    id BIGSERIAL PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('personal', 'account', 'global')),
    owner_user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    account_id BIGINT REFERENCES channel_accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    text TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    uses BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((scope = 'personal') = (owner_user_id IS NOT NULL)),
    CHECK ((scope = 'account') = (account_id IS NOT NULL))
);
CREATE INDEX quick_replies_owner_idx ON quick_replies (owner_user_id) WHERE owner_user_id IS NOT NULL;
CREATE INDEX quick_replies_account_idx ON quick_replies (account_id) WHERE account_id IS NOT NULL;
