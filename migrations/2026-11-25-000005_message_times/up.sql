-- Messages per minute for dashboards read the newest messages by time.
CREATE INDEX messages_created_idx ON messages (created_at);
