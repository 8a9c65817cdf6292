-- Copy-on-write layers, what holds them, and the intent journal.

-- A frozen (immutable) qcow2 or raw file in bases/{id}.{format}.
CREATE TABLE layer (
    id TEXT PRIMARY KEY NOT NULL,
    parent_id TEXT REFERENCES layer(id),
    format TEXT NOT NULL CHECK (format IN ('qcow2', 'raw')),
    virtual_size INTEGER NOT NULL,
    file_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_layer_parent ON layer(parent_id);

-- A box's disk: its active file boxes/{box_id}/{disk}.qcow2 sits on base_layer_id
-- (NULL when the active file has no backing file).
CREATE TABLE box_disk (
    box_id TEXT NOT NULL REFERENCES box_config(id) ON DELETE CASCADE,
    disk TEXT NOT NULL CHECK (disk IN ('guest-rootfs', 'disk')),
    base_layer_id TEXT REFERENCES layer(id),
    PRIMARY KEY (box_id, disk)
);
CREATE INDEX idx_box_disk_layer ON box_disk(base_layer_id);

-- The frozen layer that holds each disk of a snapshot.
CREATE TABLE snapshot_layer (
    snapshot_id TEXT NOT NULL REFERENCES box_snapshot(id) ON DELETE CASCADE,
    disk TEXT NOT NULL CHECK (disk IN ('guest-rootfs', 'disk')),
    layer_id TEXT NOT NULL REFERENCES layer(id),
    PRIMARY KEY (snapshot_id, disk)
);
CREATE INDEX idx_snapshot_layer_layer ON snapshot_layer(layer_id);

-- What box_snapshot's BoxLite columns do not say.
CREATE TABLE snapshot_info (
    snapshot_id TEXT PRIMARY KEY NOT NULL REFERENCES box_snapshot(id) ON DELETE CASCADE,
    consistency TEXT NOT NULL CHECK (consistency IN ('clean', 'quiesced', 'crash'))
);

-- Shared base images new boxes are overlays on, by kind and virtual size.
CREATE TABLE base_image (
    kind TEXT NOT NULL,
    virtual_size INTEGER NOT NULL,
    layer_id TEXT NOT NULL REFERENCES layer(id),
    PRIMARY KEY (kind, virtual_size)
);

-- Intent records of mutations in flight (see core/snapshot/journal.go).
CREATE TABLE journal (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('prepared', 'committed')),
    plan TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Boxes that came from BoxLite's own tables have standalone active disks.
INSERT INTO box_disk (box_id, disk, base_layer_id) SELECT id, 'guest-rootfs', NULL FROM box_config;
INSERT INTO box_disk (box_id, disk, base_layer_id) SELECT id, 'disk', NULL FROM box_config;
INSERT INTO snapshot_info (snapshot_id, consistency) SELECT id, 'clean' FROM box_snapshot;
