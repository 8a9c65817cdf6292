package boxsnap

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/klauspost/compress/zstd"
)

// fixture is a small valid archive's parts.
type fixture struct {
	guest, container, manifest []byte
}

func newFixture() fixture {
	rng := rand.New(rand.NewPCG(5, 6))
	noise := make([]byte, 100<<10)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	guest := append(syntheticImage(1<<20, 1), noise...)
	container := append(syntheticImage(1<<20, 2), compressibleData(50<<10)...)
	return fixture{guest: guest, container: container, manifest: manifestFor(guest, container)}
}

// members in the writer's order.
func (f fixture) members() []tarMember {
	return []tarMember{
		regular(MemberGuestDisk, f.guest), regular(MemberContainerDisk, f.container), regular(MemberManifest, f.manifest),
	}
}

// assertRefused checks that both Read and the Importer refuse the archive as
// corrupt, for the expected reason, and leave nothing behind.
func assertRefused(t *testing.T, archive []byte, reason string) {
	t.Helper()
	dir := t.TempDir()
	_, err := Read(context.Background(), bytes.NewReader(archive), dir, readOpts())
	checkRefusal(t, "Read", err, reason)
	assertEmptyDir(t, dir)

	dir = t.TempDir()
	_, err = importInChunks(t, archive, dir, 4096)
	checkRefusal(t, "Importer", err, reason)
	assertEmptyDir(t, dir)
}

func checkRefusal(t *testing.T, how string, err error, reason string) {
	t.Helper()
	if !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("%s: got %v, want an ErrCorrupt error", how, err)
	}
	t.Logf("%s: %v", how, err)
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("%s: error %q does not say %q", how, err, reason)
	}
}

// importInChunks feeds an archive to an Importer in writes of n bytes.
func importInChunks(t testing.TB, archive []byte, dir string, n int) (*Result, error) {
	t.Helper()
	imp, err := NewImporter(context.Background(), dir, readOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Abort()
	for off := 0; off < len(archive); off += n {
		if _, err := imp.Write(archive[off:min(off+n, len(archive))]); err != nil {
			return nil, err
		}
	}
	return imp.Close()
}

func withHeader(m tarMember, edit func(*tar.Header)) tarMember {
	hdr := *m.hdr
	edit(&hdr)
	return tarMember{hdr: &hdr, data: m.data}
}

func special(name string, typ byte, link string) tarMember {
	return tarMember{hdr: &tar.Header{Typeflag: typ, Name: name, Linkname: link, Mode: 0o644, ModTime: testModTime}}
}

// manifestWith builds manifest.json from raw JSON values, so that tests can
// put any type in any field.
func manifestWith(f fixture, edit func(fields map[string]string)) []byte {
	fields := map[string]string{
		"version": "1", "box_name": `"web"`, "image": `"alpine:latest"`, "exported_at": `"2025-01-02T03:04:05Z"`,
		"guest_disk_checksum": strconv.Quote(sha256Hex(f.guest)), "container_disk_checksum": strconv.Quote(sha256Hex(f.container)),
	}
	edit(fields)
	var parts []string
	for k, v := range fields {
		parts = append(parts, strconv.Quote(k)+":"+v)
	}
	return []byte("{" + strings.Join(parts, ",") + "}")
}

// headerOnly is a tar stream cut right after a member header that claims a
// size, followed by a little data: the claim alone must be refused.
func headerOnly(t *testing.T, name string, size int64, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(memberHeader(name, size, testModTime)); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil && !strings.Contains(err.Error(), "missed writing") {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRefusesBadArchives(t *testing.T) {
	f := newFixture()
	m := f.members()
	guest, container, manifest := m[0], m[1], m[2]
	plain := buildTar(t, false, m...)
	backed := append([]byte(nil), f.guest...)
	binary.BigEndian.PutUint64(backed[8:], 512)
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}

	cases := []struct {
		name    string
		archive []byte
		reason  string
	}{
		{"empty input", nil, "empty"},
		{"garbage", garbage, "not an archive"},
		{"short garbage", []byte("hi"), "not an archive"},
		{"dotdot name", buildTar(t, true, regular("../x", f.guest), container, manifest), `"../x" is not one of`},
		{"absolute name", buildTar(t, true, regular("/abs", f.guest), container, manifest), `"/abs" is not one of`},
		{"nested name", buildTar(t, false, regular("a/disk.qcow2", f.container), guest, manifest), "is not one of"},
		{"dot-slash name", buildTar(t, false, guest, regular("./disk.qcow2", f.container), manifest), "is not one of"},
		{"symlink", buildTar(t, true, guest, special(MemberContainerDisk, tar.TypeSymlink, "/etc/passwd"), manifest), "is a symlink"},
		{"hard link", buildTar(t, true, guest, special(MemberContainerDisk, tar.TypeLink, MemberGuestDisk), manifest), "is a hard link"},
		{"directory", buildTar(t, false, special(MemberGuestDisk+"/", tar.TypeDir, ""), container, manifest), "is a directory"},
		{"fifo", buildTar(t, false, guest, special(MemberContainerDisk, tar.TypeFifo, ""), manifest), "is a fifo"},
		{"device", buildTar(t, false, guest, special(MemberContainerDisk, tar.TypeChar, ""), manifest), "is a device"},
		{"global pax header", buildTar(t, false, tarMember{hdr: &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g",
			PAXRecords: map[string]string{"comment": "x"}}}, guest, container, manifest), "global PAX header"},
		{"extra member", buildTar(t, true, guest, container, manifest, regular("notes.txt", []byte("hi"))), `"notes.txt" is not one of`},
		{"duplicate member", buildTar(t, true, guest, container, guest, manifest), "appears twice"},
		{"no manifest", buildTar(t, true, guest, container), "no manifest.json"},
		{"no container disk", buildTar(t, true, regular(MemberManifest, f.manifest), guest), "no disk.qcow2"},
		{"manifest version 999", buildTar(t, true, guest, container, regular(MemberManifest,
			manifestWith(f, func(m map[string]string) { m["version"] = "999" }))), "version 999"},
		{"manifest version as string", buildTar(t, true, guest, container, regular(MemberManifest,
			manifestWith(f, func(m map[string]string) { m["version"] = `"1"` }))), "not valid JSON"},
		{"manifest not JSON", buildTar(t, true, guest, container, regular(MemberManifest, []byte("version=1"))), "not valid JSON"},
		{"manifest trailing data", buildTar(t, true, guest, container, regular(MemberManifest,
			append(append([]byte(nil), f.manifest...), "{}"...))), "data after"},
		{"manifest uppercase checksum", buildTar(t, true, guest, container, regular(MemberManifest,
			manifestWith(f, func(m map[string]string) {
				m["guest_disk_checksum"] = strconv.Quote(strings.ToUpper(sha256Hex(f.guest)))
			}))), "guest_disk_checksum"},
		{"manifest options not an object", buildTar(t, true, guest, container, regular(MemberManifest,
			manifestWith(f, func(m map[string]string) { m["options"] = "[1]" }))), "options"},
		{"wrong checksum", buildTar(t, true, guest, container, regular(MemberManifest,
			manifestWith(f, func(m map[string]string) { m["container_disk_checksum"] = strconv.Quote(sha256Hex(f.guest)) }))), "disk.qcow2 has checksum"},
		{"wrong checksum, manifest first", buildTar(t, false, regular(MemberManifest,
			manifestWith(f, func(m map[string]string) { m["guest_disk_checksum"] = strconv.Quote(sha256Hex(nil)) })), guest, container), "guest-rootfs.qcow2 has checksum"},
		{"vetter refuses image", buildTar(t, true, regular(MemberGuestDisk, backed), container, manifest), "has a backing file"},
		{"image too small for a header", buildTar(t, true, regular(MemberGuestDisk, []byte("QFI")), container, manifest), "bad magic"},
		{"disk beyond member cap", headerOnly(t, MemberGuestDisk, 5<<40, f.guest[:4096]), "more than the 4398046511104 allowed"},
		{"disk beyond its header", headerOnly(t, MemberGuestDisk, 1<<40, f.guest[:VetHeadSize]), "more than an image with its header can hold"},
		{"huge manifest", headerOnly(t, MemberManifest, 2<<20, []byte("{")), "more than 1048576"},
		{"no end marker", plain[:len(plain)-1024], "end marker: archive is truncated"},
		{"half an end marker", plain[:len(plain)-512], "end marker: archive is truncated"},
		{"garbage after end", append(append([]byte(nil), plain...), "trailing"...), "data follows the tar end marker"},
		{"garbage in padding", append(append(append([]byte(nil), plain...), make([]byte, 9000)...), 1), "data follows the tar end marker"},
		{"too much padding", append(append([]byte(nil), plain...), make([]byte, MaxTrailingZeros+512)...), "padding"},
		{"garbage after zstd frame", append(compressBytes(t, plain), "garbage!"...), "data follows the end of the archive"},
		{"one byte after zstd frame", append(compressBytes(t, plain), 0), "data follows the end of the archive"},
		{"compressed garbage after end", compressBytes(t, append(append([]byte(nil), plain...), "trailing"...)), "data follows"},
		{"zstd window too large", hugeWindowFrame(t, plain), "tar header"},
		{"plain tar without ustar magic", v7Header(plain), "not an archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertRefused(t, c.archive, c.reason) })
	}
}

// hugeWindowFrame compresses data in a frame that declares a 256 MiB window,
// as a decompression bomb would: the decoder must refuse to allocate it.
func hugeWindowFrame(t *testing.T, data []byte) []byte {
	var out bytes.Buffer
	enc, err := zstd.NewWriter(&out, zstd.WithWindowSize(256<<20), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var hdr zstd.Header
	if err := hdr.Decode(out.Bytes()); err != nil || hdr.WindowSize <= MaxDecoderWindow {
		t.Fatalf("frame window %d (%v), want more than %d", hdr.WindowSize, err, MaxDecoderWindow)
	}
	return out.Bytes()
}

// v7Header strips the ustar magic: a pre-POSIX tar, which this format
// does not accept.
func v7Header(plain []byte) []byte {
	out := append([]byte(nil), plain...)
	copy(out[257:265], make([]byte, 8))
	return out
}

// Every proper prefix of an archive is refused, compressed or not.
func TestRefusesTruncatedArchives(t *testing.T) {
	f := newFixture()
	for _, compress := range []bool{true, false} {
		archive := buildTar(t, compress, f.members()...)
		offsets := map[int]bool{}
		for i := range 60 {
			offsets[i*len(archive)/60] = true
		}
		for i := 1; i <= 1100 && i < len(archive); i += 37 {
			offsets[len(archive)-i] = true
		}
		for _, off := range []int{1, 3, 4, 5, 511, 512, 513, len(archive) - 1} {
			offsets[off] = true
		}
		for off := range offsets {
			dir := t.TempDir()
			_, err := Read(context.Background(), bytes.NewReader(archive[:off]), dir, readOpts())
			if !errors.Is(err, errdefs.ErrCorrupt) {
				t.Fatalf("compress=%v, cut at %d of %d: got %v", compress, off, len(archive), err)
			}
			assertEmptyDir(t, dir)
		}
	}
}

// A flipped byte anywhere in a member's data, or in the compressed stream,
// is caught (by the manifest's checksums, its syntax, or zstd's own checks).
func TestRefusesFlippedBytes(t *testing.T) {
	f := newFixture()
	plain := buildTar(t, false, f.members()...)
	flip := func(b []byte, at int) []byte {
		out := append([]byte(nil), b...)
		out[at] ^= 0x10
		return out
	}
	// Data offsets: each member's data follows its 512-byte header.
	guestAt := 512
	containerAt := guestAt + int(roundUp(int64(len(f.guest)), 512)) + 512
	manifestAt := containerAt + int(roundUp(int64(len(f.container)), 512)) + 512
	checksumAt := manifestAt + bytes.Index(f.manifest, []byte("sha256:")) + 10
	for name, at := range map[string]int{
		"guest data": guestAt + len(f.guest) - 1000, "guest header field": guestAt + 30,
		"container data": containerAt + len(f.container) - 100, "manifest checksum": checksumAt,
		"manifest syntax": manifestAt, "tar header": containerAt - 400,
	} {
		t.Run(name, func(t *testing.T) { assertRefused(t, flip(plain, at), "") })
	}
	compressed := buildTar(t, true, f.members()...)
	for i := 1; i <= 24; i++ {
		at := 16 + i*(len(compressed)-20)/25
		t.Run(fmt.Sprintf("zstd byte %d", at), func(t *testing.T) { assertRefused(t, flip(compressed, at), "") })
	}
}
