-- People of the company, how they sign in, and the switches of the whole installation.

CREATE TABLE departments (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    parent_id   BIGINT REFERENCES departments (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX departments_name_key ON departments (lower(name));

CREATE TABLE roles (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX roles_name_key ON roles (lower(name));

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    login         TEXT NOT NULL CHECK (login ~ '^[A-Za-z0-9._@-]{1,64}$'),
    display_name  TEXT NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
    -- Argon2id PHC string. Never leaves the database layer.
    password_hash TEXT NOT NULL,
    department_id BIGINT REFERENCES departments (id) ON DELETE SET NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT false,
    disabled      BOOLEAN NOT NULL DEFAULT false,
    locale        TEXT NOT NULL DEFAULT 'ru' CHECK (locale IN ('ru', 'en')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_login_key ON users (lower(login));
CREATE INDEX users_department_idx ON users (department_id);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_idx ON user_roles (role_id);

-- Browser sessions and API tokens. Only the SHA-256 of the token is stored; the token
-- itself is shown once, when it is created.
CREATE TABLE auth_tokens (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    -- The anti-CSRF token of a browser session (sent back in X-CSRF-Token).
    csrf_token   TEXT CHECK ((kind = 'session') = (csrf_token IS NOT NULL)),
    name         TEXT NOT NULL DEFAULT '',
    scopes       TEXT[] NOT NULL DEFAULT '{}'
                 CHECK (scopes <@ ARRAY['read', 'write', 'admin', 'monitor']::TEXT[]),
    created_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id) WHERE revoked_at IS NULL;

CREATE TABLE settings (
    key        TEXT PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    value      JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO settings (key, value) VALUES ('integration_enabled', 'true');

-- Who did what to whom: logins, token changes, rights changes. Append-only.
CREATE TABLE audit_log (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL DEFAULT '',
    ip            TEXT,
    details       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Answers to unsafe requests that carried an Idempotency-Key, replayed on a retry.
CREATE TABLE idempotency_keys (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash    BYTEA NOT NULL,
    response_status SMALLINT NOT NULL,
    response_body   JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
