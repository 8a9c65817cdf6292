package metadata

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "boxlite.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestMigrateOlderDatabaseInPlace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "boxlite.db")
	fixture, err := os.ReadFile("testdata/v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(string(fixture)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx *Tx) error {
		b, err := tx.BoxByName(ctx, "old")
		if err != nil {
			return err
		}
		if b.ID != "b1" || b.Status != "stopped" || string(b.Config) != `{"image":"alpine"}` {
			t.Errorf("box after migration: %+v", b)
		}
		disks, err := tx.BoxDisks(ctx, "b1")
		if err != nil {
			return err
		}
		if len(disks) != 2 {
			t.Errorf("box disks after migration: %v", disks)
		}
		s, err := tx.SnapshotByName(ctx, "b1", "v1")
		if err != nil {
			return err
		}
		if s.Consistency != "clean" || s.ContainerDiskSizeBytes != 10737418240 {
			t.Errorf("snapshot after migration: %+v", s)
		}
		var v int
		if err := tx.q.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
			return err
		}
		if v != SchemaVersion() {
			t.Errorf("schema version %d, want %d", v, SchemaVersion())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `UPDATE schema_version SET version = 999`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("open of a newer database: %v, want ErrUnsupported", err)
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openTemp(t)
	var mode string
	var fk int
	if err := db.read.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.read.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || fk != 1 {
		t.Fatalf("journal_mode=%s foreign_keys=%d", mode, fk)
	}
}

func TestBoxesSnapshotsAndLayers(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	now := time.Unix(1767225600, 0).UTC()
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.InsertBox(ctx, Box{ID: "a", Name: "x", CreatedAt: now, Config: []byte("{}"), Status: "stopped", State: []byte("{}")}); err != nil {
			return err
		}
		for _, l := range []Layer{
			{ID: "L1", Format: "qcow2", VirtualSize: 1 << 20, CreatedAt: now},
			{ID: "L2", ParentID: "L1", Format: "qcow2", VirtualSize: 1 << 20, CreatedAt: now},
			{ID: "L3", ParentID: "L2", Format: "qcow2", VirtualSize: 1 << 20, CreatedAt: now},
		} {
			if err := tx.InsertLayer(ctx, l); err != nil {
				return err
			}
		}
		if err := tx.SetBoxDisk(ctx, "a", "disk", "L3"); err != nil {
			return err
		}
		return tx.InsertSnapshot(ctx, Snapshot{ID: "s1", BoxID: "a", Name: "v1", CreatedAt: now,
			SnapshotDir: "boxes/a/snapshots/v1", Consistency: "clean", Layers: map[string]string{"disk": "L1"}})
	})
	if err != nil {
		t.Fatal(err)
	}

	err = db.Update(ctx, func(tx *Tx) error {
		return tx.InsertBox(ctx, Box{ID: "b", Name: "x", CreatedAt: now, Config: []byte("{}"), Status: "stopped", State: []byte("{}")})
	})
	if !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("duplicate box name: %v, want ErrExists", err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		return tx.InsertSnapshot(ctx, Snapshot{ID: "s2", BoxID: "a", Name: "v1", CreatedAt: now, Consistency: "clean"})
	})
	if !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("duplicate snapshot name: %v, want ErrExists", err)
	}

	dead := func() []string {
		var ids []string
		if err := db.View(ctx, func(tx *Tx) error {
			ls, err := tx.DeadLayers(ctx)
			for _, l := range ls {
				ids = append(ids, l.ID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if d := dead(); len(d) != 0 {
		t.Fatalf("dead layers while all are held: %v", d)
	}
	// The box moves to L1: L3 and L2 die, children first.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetBoxDisk(ctx, "a", "disk", "L1") }); err != nil {
		t.Fatal(err)
	}
	if d := dead(); len(d) != 2 || d[0] != "L3" || d[1] != "L2" {
		t.Fatalf("dead layers: %v, want [L3 L2]", d)
	}

	// Taking the box's lock: only from an allowed status.
	var ok1, ok2 bool
	err = db.Update(ctx, func(tx *Tx) error {
		var err error
		if ok1, err = tx.SetStatus(ctx, "a", "snapshotting", []byte("{}"), "stopped", "running"); err != nil {
			return err
		}
		ok2, err = tx.SetStatus(ctx, "a", "restoring", []byte("{}"), "stopped")
		return err
	})
	if err != nil || !ok1 || ok2 {
		t.Fatalf("status compare-and-set: %v %v %v", ok1, ok2, err)
	}

	// Deleting the box cascades to its snapshots and disks.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteBox(ctx, "a") }); err != nil {
		t.Fatal(err)
	}
	if d := dead(); len(d) != 3 {
		t.Fatalf("dead layers after box removal: %v", d)
	}
	err = db.View(ctx, func(tx *Tx) error {
		_, err := tx.SnapshotByName(ctx, "a", "v1")
		return err
	})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("snapshot of removed box: %v", err)
	}
}
