-- 0002: the flow tests of a graph (engine/flowtest/TESTS.md), versioned like the graph: every
-- save of a test appends a version, and deleting a test appends a tombstone (doc NULL), so any
-- earlier version can still be read. graph_version is the graph version current at the save.

CREATE TABLE graph_tests (
    graph_id      TEXT NOT NULL REFERENCES graphs (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) > 0),
    version       INTEGER NOT NULL CHECK (version >= 1),
    graph_version INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    doc           BLOB,
    PRIMARY KEY (graph_id, name, version)
);

CREATE TRIGGER graph_tests_no_update BEFORE UPDATE ON graph_tests
BEGIN
    SELECT RAISE(ABORT, 'graph tests are append-only');
END;

CREATE TRIGGER graph_tests_no_delete BEFORE DELETE ON graph_tests
WHEN EXISTS (SELECT 1 FROM graphs WHERE id = OLD.graph_id)
BEGIN
    SELECT RAISE(ABORT, 'graph tests are append-only');
END;
