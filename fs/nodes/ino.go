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
