-- R41: a quick reply may carry files (a price list, a map): stored in the data folder
-- under a name of ours, added to the composer with the template's text for editing, and
-- sent like any other file of a reply. A template holds at most five.
CREATE TABLE quick_reply_files (
    id BIGSERIAL PRIMARY KEY,
    quick_reply_id BIGINT NOT NULL REFERENCES quick_replies (id) ON DELETE CASCADE,
    file_name TEXT NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    mime_type TEXT,
    size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
    storage_path TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX quick_reply_files_reply_idx ON quick_reply_files (quick_reply_id, id);
