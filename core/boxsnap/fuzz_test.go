package boxsnap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// FuzzRead feeds arbitrary bytes to Read: it must never panic, must refuse
// with ErrCorrupt and nothing left behind, or stage exactly two files.
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

	// One directory for every run: each run leaves it empty again, and a
	// directory per run would cost more than most runs.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, archive []byte) {
		opts := readOpts()
		// Small enough that no input can make the fuzzer write much.
		opts.MaxMemberSize = 4 << 20
		opts.SkipSync = true
		res, err := Read(context.Background(), bytes.NewReader(archive), dir, opts)
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
		if _, err := ParseManifest(mustManifestJSON(t, &res.Manifest)); err != nil {
			t.Fatalf("accepted manifest does not re-parse: %v", err)
		}
		if err := res.Remove(); err != nil {
			t.Fatal(err)
		}
	})
}

func mustManifestJSON(t *testing.T, m *Manifest) []byte {
	data, err := m.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
