package boxsnap

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// testVetter stands in for the engine's qcow2 parser: it checks the header
// fields with encoding/binary and refuses a backing file.
type testVetter struct{}

var errNotQcow2 = errors.New("not a standalone qcow2 image")

func (testVetter) MaxFileSize(head []byte) (int64, error) {
	virtual, clusterBits, err := parseQcow2Header(head)
	if err != nil {
		return 0, err
	}
	// Data, plus a generous bound on tables: an 8-byte L2 entry and a
	// 2-byte refcount per cluster, and a few clusters of header and L1.
	clusters := (virtual >> clusterBits) + 1
	return virtual + clusters*16 + 64<<clusterBits, nil
}

func (testVetter) Verify(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("file is %d bytes, want %d", fi.Size(), size)
	}
	head := make([]byte, min(size, 512))
	if _, err := f.ReadAt(head, 0); err != nil {
		return err
	}
	_, _, err = parseQcow2Header(head)
	return err
}

func parseQcow2Header(head []byte) (virtual int64, clusterBits uint32, err error) {
	be := binary.BigEndian
	if len(head) < 72 || be.Uint32(head[0:]) != 0x514649fb {
		return 0, 0, fmt.Errorf("%w: bad magic", errNotQcow2)
	}
	if v := be.Uint32(head[4:]); v != 2 && v != 3 {
		return 0, 0, fmt.Errorf("%w: version %d", errNotQcow2, v)
	}
	if be.Uint64(head[8:]) != 0 {
		return 0, 0, fmt.Errorf("%w: has a backing file", errNotQcow2)
	}
	clusterBits = be.Uint32(head[20:])
	size := be.Uint64(head[24:])
	if clusterBits < 9 || clusterBits > 21 || size > 1<<50 {
		return 0, 0, fmt.Errorf("%w: cluster bits %d, size %d", errNotQcow2, clusterBits, size)
	}
	return int64(size), clusterBits, nil
}

// syntheticImage is a header-only qcow2 v3 image of the given virtual size,
// enough for testVetter and small enough for fuzz seeds.
func syntheticImage(virtual int64, fill byte) []byte {
	img := make([]byte, 512)
	be := binary.BigEndian
	be.PutUint32(img[0:], 0x514649fb)
	be.PutUint32(img[4:], 3)
	be.PutUint32(img[20:], 16)
	be.PutUint64(img[24:], uint64(virtual))
	be.PutUint32(img[100:], 104)
	for i := 104; i < len(img); i++ {
		img[i] = fill
	}
	return img
}

// qemuImage creates a real qcow2 image and writes into it through qemu-io;
// each write is qemu-io's write arguments, e.g. "-P 0xab 0 64k".
func qemuImage(t testing.TB, dir, name, virtual string, writes ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", path, virtual)
	for _, w := range writes {
		run(t, "qemu-io", "-f", "qcow2", "-c", "write -q "+w, path)
	}
	return path
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// fileDisk streams an image file as Write expects it.
func fileDisk(t testing.TB, path string) Disk {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return Disk{Size: fi.Size(), WriteTo: func(ctx context.Context, w io.Writer) (int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return io.Copy(w, f)
	}}
}

// bytesDisk streams an in-memory image.
func bytesDisk(b []byte) Disk {
	return Disk{Size: int64(len(b)), WriteTo: func(ctx context.Context, w io.Writer) (int64, error) {
		n, err := w.Write(b)
		return int64(n), err
	}}
}

func testManifest() Manifest {
	return Manifest{
		BoxName:    "web",
		Image:      "alpine:latest",
		ExportedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Options:    []byte(`{"export.compress":true,"snapshot.quiesce_timeout_secs":30}`),
	}
}

var testModTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// writeArchive writes an archive of two disks to memory.
func writeArchive(t testing.TB, guest, container Disk, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, testManifest(), guest, container, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// tarMember is one entry of a hand-built archive.
type tarMember struct {
	hdr  *tar.Header
	data []byte
}

func regular(name string, data []byte) tarMember {
	return tarMember{hdr: memberHeader(name, int64(len(data)), testModTime), data: data}
}

// manifestFor is a valid manifest.json for the two disks.
func manifestFor(guest, container []byte) []byte {
	m := testManifest()
	m.Version = ManifestVersion
	m.GuestDiskChecksum = sha256Hex(guest)
	m.ContainerDiskChecksum = sha256Hex(container)
	data, err := m.marshal()
	if err != nil {
		panic(err)
	}
	return data
}

// buildTar writes members with archive/tar, compressed when asked, so that
// tests can produce archives the writer never would.
func buildTar(t testing.TB, compress bool, members ...tarMember) []byte {
	t.Helper()
	var out bytes.Buffer
	var w io.Writer = &out
	var enc *zstd.Encoder
	if compress {
		var err error
		if enc, err = zstd.NewWriter(&out); err != nil {
			t.Fatal(err)
		}
		w = enc
	}
	tw := tar.NewWriter(w)
	for _, m := range members {
		if err := tw.WriteHeader(m.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func compressBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// readOpts are the options every test reads with.
func readOpts() ReadOptions {
	return ReadOptions{Vetter: testVetter{}}
}

// assertEmptyDir fails if a refused import left anything behind.
func assertEmptyDir(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

func mustReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
