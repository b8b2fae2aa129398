-- The controller lease: which replica runs rollouts, until when (milliseconds since the Unix
-- epoch, on the store's clock), and its epoch, which every controller write re-checks.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL);
