package snapshot

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
)

// layout names every file of a home (SPEC 1). All active and frozen qcow2
// files sit two directories below the home (boxes/{id}/ and bases/{xx}/), so
// a relative backing name such as "../../bases/ab/abcd….qcow2" resolves the
// same from either, and a home can be moved as a whole.
type layout struct {
	home string
}

func (l layout) db() string           { return filepath.Join(l.home, "db", "boxlite.db") }
func (l layout) owners() string       { return filepath.Join(l.home, "db", "owners") }
func (l layout) homeLock() string     { return filepath.Join(l.home, "db", "home.lock") }
func (l layout) boxes() string        { return filepath.Join(l.home, "boxes") }
func (l layout) bases() string        { return filepath.Join(l.home, "bases") }
func (l layout) tmp() string          { return filepath.Join(l.home, "tmp") }
func (l layout) box(id string) string { return filepath.Join(l.home, "boxes", id) }

func (l layout) active(boxID string, d Disk) string {
	return filepath.Join(l.box(boxID), d.FileName())
}

func (l layout) snapshotsDir(boxID string) string {
	return filepath.Join(l.box(boxID), "snapshots")
}

func (l layout) snapshotDir(boxID, name string) string {
	return filepath.Join(l.snapshotsDir(boxID), name)
}

func (l layout) snapshotFile(boxID, name string, d Disk) string {
	return filepath.Join(l.snapshotDir(boxID, name), d.FileName())
}

// rel gives a path relative to the home, as stored in the database.
func (l layout) rel(path string) string {
	r, err := filepath.Rel(l.home, path)
	if err != nil {
		return path
	}
	return r
}

// basesLink is a box directory's symlink to the home's bases/: with it, the
// relative backing names also resolve from boxes/{id}/snapshots/{name}/, so
// qemu-img and QEMU can open a snapshot's files where BoxLite's layout puts
// them ("../../bases" from there is boxes/{id}/bases).
func (l layout) basesLink(boxID string) string { return filepath.Join(l.box(boxID), "bases") }

const basesLinkTarget = "../../bases"

// layerDir shards frozen layers by the first two characters of their id.
func (l layout) layerDir(id string) string { return filepath.Join(l.bases(), id[:2]) }

func (l layout) layer(id string) string { return filepath.Join(l.layerDir(id), id+".qcow2") }

// backingName is how an active or frozen file names layer id as its backing
// file: relative, and the same from boxes/{id}/ and bases/{xx}/.
func backingName(id string) string {
	return filepath.Join("..", "..", "bases", id[:2], id+".qcow2")
}

// staging is a hidden name next to final for a file being made. It fits in
// NAME_MAX even when final is a snapshot with a name of the longest valid
// length (255 bytes): final's name is cut short, the id keeps it unique.
func staging(final, txID string) string {
	base := filepath.Base(final)
	if limit := nameMax - len(txID) - 2; len(base) > limit {
		base = base[:limit]
	}
	return filepath.Join(filepath.Dir(final), "."+base+"."+txID)
}

// nameMax is the longest file name Linux filesystems take.
const nameMax = 255

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}
