// Package boxsnap reads and writes .boxsnap archives: the portable form of a
// box that `Box.Export` streams and `Runtime.Import` consumes.
//
// An archive is a tar (ustar, or PAX where a field does not fit ustar) with
// exactly three regular members, compressed as one zstd stream unless the
// exporter turned compression off:
//
//	guest-rootfs.qcow2   the guest disk, a standalone qcow2 image
//	disk.qcow2           the container disk, a standalone qcow2 image
//	manifest.json        BoxLite's ArchiveManifest, with sha256 of both disks
//
// Write streams each disk once (flatten → sha256 → tar → zstd) and puts the
// manifest last because only then are the checksums known. Read consumes an
// io.Reader; an Importer takes the same archive as a sequence of writes and
// answers each one with the verdict on the bytes it completed. Both accept
// the members in any order, check each disk against the manifest as soon as
// both are known, and stage the disks as new files (synced, unless asked
// not to) that the caller then moves into place.
//
// What the reader refuses (each refusal wraps errdefs.ErrCorrupt and leaves
// no file behind):
//   - input that is neither a zstd stream (28 B5 2F FD) nor a ustar/PAX tar;
//   - members other than the three regular files above: other names, paths,
//     directories, links, devices, fifos, sparse files, global PAX headers,
//     duplicates;
//   - a manifest over MaxManifestSize, not valid JSON, of another version, or
//     with malformed checksums; a disk whose sha256 differs from it;
//   - a disk larger than ReadOptions.MaxMemberSize or than its own header
//     allows (ImageVetter.MaxFileSize), refused before any of its data is
//     written; a disk the ImageVetter rejects;
//   - a truncated stream, including one that lacks the tar end marker;
//   - trailing data: after the tar end marker only zero padding (as tar
//     writes up to its record size) of at most MaxTrailingZeros is accepted,
//     and after the last zstd frame nothing but skippable frames;
//   - zstd frames that need a window over MaxDecoderWindow, which bounds the
//     decoder's memory whatever the input claims.
//
// Local failures keep their own identity instead of ErrCorrupt: a full or
// failing staging disk (errors.Is(err, syscall.ENOSPC)), a failing source
// reader, and cancellation of the context.
package boxsnap
