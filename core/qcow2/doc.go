// Package qcow2 is the in-process QCOW2 engine: it opens chains of qcow2
// and raw images, reads them, reports their allocation map, creates empty
// images and overlays, flattens a chain into one qcow2 image (planned
// completely from the allocation map before a byte of data is read), and
// checks images the way qemu-img check does. QEMU's tools are never run at
// run time; they are the oracle of the tests.
//
// The on-disk format is QEMU's docs/interop/qcow2.rst. Every offset and
// size read from a file is checked against the file before it is used, and
// nothing is allocated that the file's size does not justify.
//
// # Reading
//
// Open follows the backing chain under an OpenOptions.AllowBacking policy
// (checked before each open and again on the path the kernel opened), with
// loop and depth limits. A layer's L1 table is in memory; its L2 tables are
// decoded into spans (runs of like clusters) and kept in a byte-bounded cache
// shared by the chain. For reads, the segments a region of 16 MiB resolves
// to through the whole chain are cached too (the chain map), so a read costs
// one search however deep the chain: 99 empty overlays read at the speed of
// their base.
//
// # Writing
//
// Flatten lays the image out as header, L1, refcount table, refcount blocks,
// L2 tables, then data clusters in guest order, every cluster with refcount
// one (so every COPIED bit is set). All of it follows from the allocation
// map, so the exact size is known first and any byte range can be generated
// on demand (Flat.ReadAt) or in one pass (Flat.WriteTo, WriteFile). Create
// is Flatten of an empty disk.
//
// # Why not go-qcow2reader
//
// lima-vm/go-qcow2reader v0.7.0 was inspected and measured. It keeps
// process-wide mutable state (the SetDecompressor registry, a package
// logger); it opens backing files itself with os.Open, with no path policy
// and no loop or depth limit (a backing loop recurses until something runs
// out); it allocates the L1 table from the header's l1_size without checking
// it against the file; and its extents do not say which layer holds the
// data, which diffs and the allocation map need. Measured with
// `go run ./bench -only qcow2` on 2 cores (BENCHMARKS.md), sequential 1 MiB
// reads of a 1 GiB mixed depth-5 chain: 7634 MB/s here, 6988 MB/s there
// (both bound by pread); of a zstd-compressed image: 1491 MB/s here, 316 MB/s
// there (a new decoder per cluster there; pooled decoders and the last
// inflated cluster kept here).
package qcow2
