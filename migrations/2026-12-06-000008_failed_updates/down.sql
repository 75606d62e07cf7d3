DROP TABLE failed_updates;
