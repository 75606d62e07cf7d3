-- R15: the list's search finds a dialog by the title an operator gave it.
CREATE INDEX dialogs_title_trgm ON dialogs USING gin (title gin_trgm_ops);
