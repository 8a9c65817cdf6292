-- A database as written by schema version 1 (BoxLite's tables only),
-- with one box and one snapshot.
CREATE TABLE schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE box_config (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX idx_box_config_created_at ON box_config(created_at);
CREATE TABLE box_state (
    id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    json TEXT NOT NULL,
    FOREIGN KEY (id) REFERENCES box_config(id) ON DELETE CASCADE
);
CREATE INDEX idx_box_state_status ON box_state(status);
CREATE TABLE box_snapshot (
    id TEXT PRIMARY KEY NOT NULL,
    box_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    snapshot_dir TEXT NOT NULL,
    guest_disk_size_bytes INTEGER NOT NULL,
    container_disk_size_bytes INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (box_id) REFERENCES box_config(id) ON DELETE CASCADE,
    UNIQUE(box_id, name)
);
INSERT INTO schema_version VALUES (1, 1, '2026-01-01T00:00:00Z');
INSERT INTO box_config VALUES ('b1', 'old', 1767225600, '{"image":"alpine"}');
INSERT INTO box_state VALUES ('b1', 'stopped', NULL, '{}');
INSERT INTO box_snapshot VALUES ('s1', 'b1', 'v1', 1767225700, 'boxes/b1/snapshots/v1', 1073741824, 10737418240, 4096);
