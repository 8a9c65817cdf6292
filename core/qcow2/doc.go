// Package qcow2 is the in-process QCOW2 engine: it opens chains of qcow2
// and raw images, reads them, reports their allocation map, creates empty
// images and overlays, flattens a chain into one standalone qcow2 (planned
// completely from the allocation map before a byte of data is read), and
// checks images the way qemu-img check does. QEMU's tools are never run at
// run time; they are the oracle of the tests.
//
// The on-disk format is QEMU's docs/interop/qcow2.rst. Every offset and
// size read from a file is checked against the file before it is used, and
// nothing is allocated that the file's size does not justify.
package qcow2
