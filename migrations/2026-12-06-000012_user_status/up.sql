-- R46: an operator's status, set by hand: at work (online) or away, with since when.
-- Colleagues see it beside the name where they choose someone (a redirect, a task).
ALTER TABLE users
    ADD COLUMN status TEXT NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away')),
    ADD COLUMN status_since TIMESTAMPTZ NOT NULL DEFAULT now();
