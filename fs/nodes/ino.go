package nodes

import "hash/fnv"

// inoOf gives a path's inode number from a key naming what it shows ("box/
// <id>", "snap/<id>/disk.qcow2"): the same object keeps its number across
// renames and lookups, and the kernel sees one inode per object.
func inoOf(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	ino := h.Sum64()
	if ino <= 1 || ino == ^uint64(0) { // 0 means "pick one", 1 is the root
		ino = 2
	}
	return ino
}

// boxKey and snapshotKey are the keys of what a box and a snapshot show.
func boxKey(id string) string      { return "box/" + id }
func snapshotKey(id string) string { return "snap/" + id }

// tree is the top directory a box is seen through: boxes/NAME, or
// clones/NAME once a copy made the box. Both show the same files, with the
// same inode numbers, but each tree's directories have numbers of their
// own: the kernel cannot have one directory at two places.
type tree string

const (
	boxesTree  tree = ""
	clonesTree tree = "clones:"
)

// dirIno numbers a box's directory (key as for inoOf) seen through t.
func (t tree) dirIno(key string) uint64 { return inoOf(string(t) + key) }
