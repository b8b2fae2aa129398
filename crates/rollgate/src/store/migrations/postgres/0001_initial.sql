-- The same tables as the embedded store, in PostgreSQL's types. Times are milliseconds since
-- the Unix epoch, as there; documents are JSON text, read and written by Rollgate only.
CREATE TABLE services (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    previous TEXT,
    revision BIGINT NOT NULL,
    updated_at BIGINT NOT NULL);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    service TEXT,
    kind TEXT NOT NULL,
    before_doc TEXT,
    after_doc TEXT,
    detail TEXT);
CREATE INDEX events_by_service ON events (service, id);
CREATE TABLE rollouts (
    service TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL);
