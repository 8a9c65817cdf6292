package boxsnap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// FuzzRead feeds arbitrary bytes to Read and, in writes of varying size, to
// an Importer. Neither may panic; both must reach the same verdict; a
// refusal is ErrCorrupt and leaves nothing behind; an acceptance stages
// exactly two files and a manifest that parses again.
func FuzzRead(f *testing.F) {
	guest, container := syntheticImage(64<<10, 1), syntheticImage(64<<10, 2)
	members := []tarMember{
		regular(MemberGuestDisk, guest), regular(MemberContainerDisk, container),
		regular(MemberManifest, manifestFor(guest, container)),
	}
	f.Add(buildTar(f, true, members...))
	f.Add(buildTar(f, false, members...))
	f.Add(buildTar(f, false, members[2], members[0], members[1]))
	f.Add(writeArchive(f, bytesDisk(guest), bytesDisk(container), WriteOptions{Compress: true}))
	f.Add([]byte{})
	f.Add(zstdMagic[:])

	opts := readOpts()
	opts.MaxMemberSize = 4 << 20 // no input can make a run write much
	opts.SkipSync = true
	// One directory for every run: each run leaves it empty again, and a
	// directory per run would cost more than most runs.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, archive []byte) {
		res, readErr := Read(context.Background(), bytes.NewReader(archive), dir, opts)
		checkVerdict(t, dir, res, readErr)

		imp, err := NewImporter(context.Background(), dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer imp.Abort()
		chunk := len(archive)%509 + 1
		var writeErr error
		for off := 0; off < len(archive) && writeErr == nil; off += chunk {
			_, writeErr = imp.Write(archive[off:min(off+chunk, len(archive))])
		}
		res, err = imp.Close()
		if writeErr != nil && err == nil {
			t.Fatalf("Close succeeded after a failed Write: %v", writeErr)
		}
		if (readErr == nil) != (err == nil) {
			t.Fatalf("Read says %v, Importer says %v", readErr, err)
		}
		checkVerdict(t, dir, res, err)
	})
}

func checkVerdict(t *testing.T, dir string, res *Result, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, errdefs.ErrCorrupt) {
			t.Fatalf("refusal %v is not ErrCorrupt", err)
		}
		assertEmptyDir(t, dir)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 2 {
		t.Fatalf("accepted archive staged %d files (%v)", len(entries), err)
	}
	data, err := res.Manifest.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseManifest(data); err != nil {
		t.Fatalf("accepted manifest does not re-parse: %v", err)
	}
	if err := res.Remove(); err != nil {
		t.Fatal(err)
	}
}
