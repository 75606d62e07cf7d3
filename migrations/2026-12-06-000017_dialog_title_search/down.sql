DROP INDEX dialogs_title_trgm;
