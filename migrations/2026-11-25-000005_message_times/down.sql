DROP INDEX messages_created_idx;
