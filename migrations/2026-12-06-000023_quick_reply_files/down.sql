DROP TABLE quick_reply_files;
