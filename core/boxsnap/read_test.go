package boxsnap

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// failingReader yields some bytes, then fails like a broken connection.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// A failing source is not a corrupt archive: its error comes through.
func TestReadSourceFailureKeepsItsIdentity(t *testing.T) {
	f := newFixture()
	archive := buildTar(t, true, f.members()...)
	broken := errors.New("connection reset")
	for _, cut := range []int{0, 100, len(archive) / 2} {
		dir := t.TempDir()
		_, err := Read(context.Background(), &failingReader{data: archive[:cut], err: broken}, dir, readOpts())
		if !errors.Is(err, broken) || errors.Is(err, errdefs.ErrCorrupt) {
			t.Errorf("cut at %d: got %v, want the source's error", cut, err)
		}
		assertEmptyDir(t, dir)
	}
}

func TestReadCancelled(t *testing.T) {
	f := newFixture()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := Read(ctx, bytes.NewReader(buildTar(t, true, f.members()...)), dir, readOpts())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	assertEmptyDir(t, dir)
}

func TestParseManifestIgnoresUnknownFields(t *testing.T) {
	f := newFixture()
	data := manifestWith(f, func(m map[string]string) {
		m["box_options"] = `{"cpus":2}`
		m["future_field"] = `[1,2,3]`
		m["options"] = `{"export.compress":false}`
	})
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.BoxName != "web" || m.GuestDiskChecksum != sha256Hex(f.guest) || string(m.Options) != `{"export.compress":false}` {
		t.Errorf("parsed %+v", m)
	}
	if _, err := ParseManifest(bytes.Repeat([]byte(" "), MaxManifestSize+1)); !errors.Is(err, errdefs.ErrCorrupt) {
		t.Errorf("oversized manifest: %v", err)
	}
}

// Zero runs of a disk are staged as holes: a preallocated image does not
// take its full size on disk, and reads back the same.
func TestStagingLeavesHolesForZeros(t *testing.T) {
	guest := append(syntheticImage(16<<20, 1), make([]byte, 6<<20)...)
	copy(guest[3<<20:], compressibleData(100<<10))
	container := append(syntheticImage(16<<20, 2), make([]byte, 5<<20)...) // zeros to the end
	archive := writeArchive(t, bytesDisk(guest), bytesDisk(container), WriteOptions{Compress: true})
	res, err := Read(context.Background(), bytes.NewReader(archive), t.TempDir(), readOpts())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{res.GuestDisk: guest, res.ContainerDisk: container} {
		if !bytes.Equal(mustReadFile(t, path), want) {
			t.Fatalf("%s differs from the original", path)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if allocated := st.Blocks * 512; allocated > int64(len(want))/2 {
			t.Errorf("%s: %d of %d bytes allocated, want holes", path, allocated, len(want))
		}
	}
}
