-- 0001: graphs with append-only versions, content-addressed assets, runs, settings, keys.
-- Times are unix nanoseconds (UTC). JSON documents are stored as BLOB, byte for byte as saved.

CREATE TABLE graphs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1) -- latest version number
);

CREATE TABLE graph_versions (
    graph_id   TEXT NOT NULL REFERENCES graphs (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version >= 1),
    created_at INTEGER NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    doc        BLOB NOT NULL,
    PRIMARY KEY (graph_id, version)
);

-- History is append-only: a version row is never rewritten, and only deleting its graph removes it
-- (the foreign-key cascade runs after the graph row is gone, so the WHEN clause lets it through).
CREATE TRIGGER graph_versions_no_update BEFORE UPDATE ON graph_versions
BEGIN
    SELECT RAISE(ABORT, 'graph versions are append-only');
END;

CREATE TRIGGER graph_versions_no_delete BEFORE DELETE ON graph_versions
WHEN EXISTS (SELECT 1 FROM graphs WHERE id = OLD.graph_id)
BEGIN
    SELECT RAISE(ABORT, 'graph versions are append-only');
END;

-- Asset bytes live in blobs/<sha256> next to the database; this table is their catalogue.
CREATE TABLE assets (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('wasm', 'tflite', 'labels', 'wav', 'other')),
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at INTEGER NOT NULL
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    graph_id      TEXT REFERENCES graphs (id) ON DELETE SET NULL,
    graph_version INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('running', 'stopping', 'finished', 'failed', 'stopped')),
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    error         TEXT NOT NULL DEFAULT '',
    metrics       BLOB
);

CREATE INDEX runs_by_start ON runs (started_at DESC);
CREATE INDEX runs_by_graph ON runs (graph_id);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE keys (
    name       TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    private    BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
