DROP TABLE rules;
DROP TABLE close_reasons;
DROP TABLE interests;
DROP TABLE interlocutors;
DROP TABLE client_merges;
DROP TABLE contact_persons;
DROP TABLE clients;
-- pg_trgm stays: it may have been there before us, and other schemas may use it.
