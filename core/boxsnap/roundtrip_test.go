package boxsnap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testImages makes two small real qcow2 images with some data in each.
func testImages(t testing.TB) (guest, container string) {
	t.Helper()
	dir := t.TempDir()
	random := filepath.Join(dir, "random")
	data := make([]byte, 192<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(random, data, 0o644); err != nil {
		t.Fatal(err)
	}
	guest = qemuImage(t, dir, "guest.qcow2", "4M", "-P 0xab 0 64k", "-s "+random+" 1M 192k")
	container = qemuImage(t, dir, "container.qcow2", "2M", "-P 0x5a 512k 128k")
	return guest, container
}

func TestRoundTrip(t *testing.T) {
	guestPath, containerPath := testImages(t)
	guest, container := mustReadFile(t, guestPath), mustReadFile(t, containerPath)
	for _, compress := range []bool{true, false} {
		t.Run(map[bool]string{true: "zstd", false: "tar"}[compress], func(t *testing.T) {
			archive := writeArchive(t, fileDisk(t, guestPath), fileDisk(t, containerPath),
				WriteOptions{Compress: compress, ModTime: testModTime})
			if got := bytes.HasPrefix(archive, zstdMagic[:]); got != compress {
				t.Fatalf("zstd magic present = %v, want %v", got, compress)
			}
			dir := t.TempDir()
			res, err := Read(context.Background(), bytes.NewReader(archive), dir, readOpts())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !bytes.Equal(mustReadFile(t, res.GuestDisk), guest) || !bytes.Equal(mustReadFile(t, res.ContainerDisk), container) {
				t.Fatal("staged disks differ from the originals")
			}
			if res.GuestDiskSize != int64(len(guest)) || res.ContainerDiskSize != int64(len(container)) {
				t.Errorf("sizes %d, %d; want %d, %d", res.GuestDiskSize, res.ContainerDiskSize, len(guest), len(container))
			}
			m := res.Manifest
			if m.GuestDiskChecksum != sha256Hex(guest) || m.ContainerDiskChecksum != sha256Hex(container) {
				t.Errorf("manifest checksums %s, %s", m.GuestDiskChecksum, m.ContainerDiskChecksum)
			}
			want := testManifest()
			if m.Version != 1 || m.BoxName != want.BoxName || m.Image != want.Image || !m.ExportedAt.Equal(want.ExportedAt) {
				t.Errorf("manifest %+v", m)
			}
			var opts map[string]any
			if err := json.Unmarshal(m.Options, &opts); err != nil || opts["snapshot.quiesce_timeout_secs"] != 30.0 {
				t.Errorf("options %s: %v", m.Options, err)
			}
			if err := res.Remove(); err != nil {
				t.Fatal(err)
			}
			assertEmptyDir(t, dir)
		})
	}
}

// The archive is an ordinary tar.zst: the shell tools list and extract it,
// and sha256sum agrees with the manifest.
func TestArchiveReadableByShellTools(t *testing.T) {
	guestPath, containerPath := testImages(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "box.boxsnap")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	err = Write(context.Background(), f, testManifest(), fileDisk(t, guestPath), fileDisk(t, containerPath),
		WriteOptions{Compress: true, Level: 3, ModTime: testModTime})
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}

	list := strings.Fields(string(run(t, "tar", "-I", "zstd", "-tf", archive)))
	want := []string{MemberGuestDisk, MemberContainerDisk, MemberManifest}
	if strings.Join(list, " ") != strings.Join(want, " ") {
		t.Fatalf("tar -tf lists %v, want %v", list, want)
	}
	verbose := string(run(t, "tar", "-I", "zstd", "--numeric-owner", "-tvf", archive))
	if !strings.Contains(verbose, "-rw-r--r-- 0/0") || !strings.Contains(verbose, "2025-01-02") {
		t.Errorf("headers are not the deterministic ones:\n%s", verbose)
	}

	out := t.TempDir()
	script := `zstd -dc "$1" | tar -x -C "$2" && cd "$2" && sha256sum ` + strings.Join(want[:2], " ") + ` && cat manifest.json`
	text := string(run(t, "sh", "-c", script, "sh", archive, out))
	manifest, err := ParseManifest([]byte(text[strings.Index(text, "{"):]))
	if err != nil {
		t.Fatal(err)
	}
	sums := strings.Fields(text[:strings.Index(text, "{")])
	if "sha256:"+sums[0] != manifest.GuestDiskChecksum || "sha256:"+sums[2] != manifest.ContainerDiskChecksum {
		t.Errorf("sha256sum says %v, manifest says %s and %s", sums, manifest.GuestDiskChecksum, manifest.ContainerDiskChecksum)
	}
	for _, name := range want[:2] {
		run(t, "qemu-img", "check", "-q", filepath.Join(out, name))
	}
}

func TestPlainTarListsWithTar(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "box.tar")
	data := writeArchive(t, bytesDisk(syntheticImage(1<<20, 1)), bytesDisk(syntheticImage(1<<20, 2)),
		WriteOptions{Compress: false, ModTime: testModTime})
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	list := strings.Fields(string(run(t, "tar", "-tf", archive)))
	if len(list) != 3 || list[2] != MemberManifest {
		t.Fatalf("tar -tf lists %v", list)
	}
}

func TestLevelChangesSize(t *testing.T) {
	text := compressibleData(4 << 20)
	guest := append(syntheticImage(8<<20, 0), text...)
	container := syntheticImage(1<<20, 0)
	size := func(level int) int {
		return len(writeArchive(t, bytesDisk(guest), bytesDisk(container),
			WriteOptions{Compress: true, Level: level, ModTime: testModTime}))
	}
	fast, best := size(1), size(19)
	t.Logf("level 1: %d bytes, level 19: %d bytes (of %d)", fast, best, len(guest))
	if best >= fast {
		t.Errorf("level 19 gives %d bytes, not fewer than level 1's %d", best, fast)
	}
}

// compressibleData is text-like: words drawn from a small vocabulary.
func compressibleData(n int) []byte {
	words := strings.Fields("the quick brown fox jumps over lazy dog box snapshot layer qcow2 cluster " +
		"table refcount header guest container disk image archive manifest stream zstd tar")
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(" \n"[rng.IntN(8)/7])
	}
	return b.Bytes()[:n]
}

func TestWriteIsDeterministic(t *testing.T) {
	guest := append(syntheticImage(8<<20, 0), compressibleData(3<<20)...)
	container := syntheticImage(1<<20, 7)
	for _, opts := range []WriteOptions{
		{Compress: true, Concurrency: 2, ModTime: testModTime},
		{Compress: true, Level: 19, Concurrency: 1, ModTime: testModTime},
		{Compress: false, ModTime: testModTime},
	} {
		a := writeArchive(t, bytesDisk(guest), bytesDisk(container), opts)
		b := writeArchive(t, bytesDisk(guest), bytesDisk(container), opts)
		if !bytes.Equal(a, b) {
			t.Errorf("%+v: two writes differ", opts)
		}
	}
	// The encoder's goroutines change how fast, not what: the same state
	// exports to the same bytes on machines with any number of cores.
	one := writeArchive(t, bytesDisk(guest), bytesDisk(container), WriteOptions{Compress: true, Concurrency: 1, ModTime: testModTime})
	four := writeArchive(t, bytesDisk(guest), bytesDisk(container), WriteOptions{Compress: true, Concurrency: 4, ModTime: testModTime})
	if !bytes.Equal(one, four) {
		t.Error("concurrency 1 and 4 give different archives")
	}
}

// Archives built by other tools, with the manifest first, import too.
func TestManifestFirstImports(t *testing.T) {
	guest, container := syntheticImage(1<<20, 1), syntheticImage(1<<20, 2)
	manifest := manifestFor(guest, container)
	for _, compress := range []bool{true, false} {
		archive := buildTar(t, compress,
			regular(MemberManifest, manifest), regular(MemberContainerDisk, container), regular(MemberGuestDisk, guest))
		res, err := Read(context.Background(), bytes.NewReader(archive), t.TempDir(), readOpts())
		if err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		if !bytes.Equal(mustReadFile(t, res.GuestDisk), guest) {
			t.Error("guest disk differs")
		}
	}
}

// GNU tar pads its output to 10 KiB records and writes its own header
// flavour; such an archive imports.
func TestGNUTarArchiveImports(t *testing.T) {
	src := t.TempDir()
	guest, container := syntheticImage(1<<20, 1), syntheticImage(1<<20, 2)
	for name, data := range map[string][]byte{
		MemberGuestDisk: guest, MemberContainerDisk: container, MemberManifest: manifestFor(guest, container),
	} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(t.TempDir(), "gnu.tar.zst")
	cmd := exec.Command("tar", "--format=gnu", "-I", "zstd", "-cf", archive, "-C", src,
		MemberManifest, MemberGuestDisk, MemberContainerDisk)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Read(context.Background(), f, t.TempDir(), readOpts()); err != nil {
		t.Fatal(err)
	}
}

func TestWriteProgress(t *testing.T) {
	guest := syntheticImage(16<<20, 1)
	guest = append(guest, make([]byte, 9<<20)...)
	container := syntheticImage(1<<20, 2)
	var calls [][2]int64
	writeArchive(t, bytesDisk(guest), bytesDisk(container), WriteOptions{
		Compress: true, ModTime: testModTime,
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) },
	})
	total := int64(len(guest) + len(container))
	if len(calls) < 2 || calls[len(calls)-1] != [2]int64{total, total} {
		t.Fatalf("progress calls %v, want a last one of %d/%d", calls, total, total)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] <= calls[i-1][0] {
			t.Fatalf("progress went backwards: %v", calls)
		}
	}
}

func TestReadProgress(t *testing.T) {
	archive := writeArchive(t, bytesDisk(append(syntheticImage(16<<20, 1), compressibleData(9<<20)...)),
		bytesDisk(syntheticImage(1<<20, 2)), WriteOptions{Compress: false, ModTime: testModTime})
	var last [2]int64
	opts := readOpts()
	opts.InputSize = int64(len(archive))
	opts.Progress = func(done, total int64) { last = [2]int64{done, total} }
	if _, err := Read(context.Background(), bytes.NewReader(archive), t.TempDir(), opts); err != nil {
		t.Fatal(err)
	}
	if want := [2]int64{int64(len(archive)), int64(len(archive))}; last != want {
		t.Errorf("last progress %v, want %v", last, want)
	}
}
