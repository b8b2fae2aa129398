-- The schema of the first release. IF NOT EXISTS: a data dir from that release (which made
-- these tables itself, before migrations were tracked) opens and is brought under migrations.
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    previous TEXT,
    revision BIGINT NOT NULL,
    updated_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    service TEXT,
    kind TEXT NOT NULL,
    before_doc TEXT,
    after_doc TEXT,
    detail TEXT);
CREATE INDEX IF NOT EXISTS events_by_service ON events (service, id);
CREATE TABLE IF NOT EXISTS rollouts (
    service TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL);
