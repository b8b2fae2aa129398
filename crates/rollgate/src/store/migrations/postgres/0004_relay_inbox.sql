-- Requests one replica hands to another through the store: feedback for a request another
-- replica answered, rollout calls for the replica running the controller. Each is held until
-- a replica that can answer it sets its status and answer, and deleted after a minute.
CREATE TABLE relay_inbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    from_replica TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status INTEGER,
    answer TEXT);
