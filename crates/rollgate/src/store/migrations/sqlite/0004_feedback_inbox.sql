-- Feedback received by a replica that did not answer the request: held here until the replica
-- that did answer it takes it (status and answer set), and deleted after a minute.
CREATE TABLE feedback_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    from_replica TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status INTEGER,
    answer TEXT);
