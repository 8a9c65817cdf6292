package qcow2

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// requireCheckAgrees runs Check and qemu-img check on img and compares the
// verdicts.
func requireCheckAgrees(t *testing.T, img string) *CheckResult {
	t.Helper()
	ours, err := Check(context.Background(), img)
	if err != nil {
		t.Fatalf("Check %s: %v", img, err)
	}
	theirs := qemuCheck(t, img)
	if ours.Corruptions != theirs.Corruptions || ours.Leaks != theirs.Leaks {
		t.Fatalf("Check %s: %d corruptions, %d leaks (%q); qemu-img check: %+v",
			img, ours.Corruptions, ours.Leaks, ours.Problems, theirs)
	}
	return ours
}

// checkChecks runs Check on every qcow2 layer of a chain and on the
// flattened image.
func checkChecks(t *testing.T, c chain) {
	t.Helper()
	for i, l := range c.layers {
		if c.formats[i] == "qcow2" {
			requireCheckAgrees(t, l)
		}
	}
	requireCheckAgrees(t, filepath.Join(c.dir, "flat.qcow2"))
}

// damageable is a small qcow2 image written by QEMU, with what a test needs
// to know to corrupt it by hand.
type damageable struct {
	path       string
	h          *header
	l1         []int64
	firstData  int64 // host offset of the first data cluster of L2 table 0
	l2EntryOff int64 // file offset of the L2 entry pointing to it
}

func newDamageable(t *testing.T, opts string) damageable {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.qcow2")
	must(t, "qemu-img", "create", "-f", "qcow2", "-o", opts, path, "4M")
	qemuIO(t, path, "qcow2", "write -P 7 0 200k", "write -z 1M 64k", "write -P 9 3M 100k")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	h, err := parseHeader(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	l1, err := readL1(f, h, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	var entry [8]byte
	if _, err := f.ReadAt(entry[:], l1[0]); err != nil {
		t.Fatal(err)
	}
	return damageable{path: path, h: h, l1: l1, firstData: int64(be64(entry[:]) & offsetMask), l2EntryOff: l1[0]}
}

// patch overwrites bytes of the image.
func (d damageable) patch(t *testing.T, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// setRefcount stores refcount n for host cluster c (16-bit refcounts).
func (d damageable) setRefcount(t *testing.T, c int64, n uint16) {
	t.Helper()
	f, err := os.Open(d.path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	r, err := newRefcountReader(f, d.h, fi.Size(), func(int, uint64) {})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	block := r.table[c/r.perBlock()]
	if block == 0 {
		t.Fatalf("no refcount block for cluster %d", c)
	}
	d.patch(t, block+c%r.perBlock()*2, binary.BigEndian.AppendUint16(nil, n))
}

func (d damageable) entryWithout(t *testing.T, off int64, bit uint64) []byte {
	t.Helper()
	f, err := os.Open(d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.AppendUint64(nil, be64(b[:])&^bit)
}

func TestCheckAgreesWithQemu(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, d damageable)
		want   qemuCheckResult // corruptions and leaks
	}{
		{"clean", func(*testing.T, damageable) {}, qemuCheckResult{}},
		{"leak", func(t *testing.T, d damageable) {
			fi, _ := os.Stat(d.path)
			end := alignUp(fi.Size(), d.h.clusterSize())
			if err := os.Truncate(d.path, end+d.h.clusterSize()); err != nil {
				t.Fatal(err)
			}
			d.setRefcount(t, end/d.h.clusterSize(), 1)
		}, qemuCheckResult{Leaks: 1}},
		{"l2-copied-bit-missing", func(t *testing.T, d damageable) {
			d.patch(t, d.l2EntryOff, d.entryWithout(t, d.l2EntryOff, entryCopied))
		}, qemuCheckResult{Corruptions: 1}},
		{"l1-copied-bit-missing", func(t *testing.T, d damageable) {
			d.patch(t, d.h.l1Offset, d.entryWithout(t, d.h.l1Offset, entryCopied))
		}, qemuCheckResult{Corruptions: 1}},
		{"refcount-too-high", func(t *testing.T, d damageable) {
			d.setRefcount(t, d.firstData/d.h.clusterSize(), 2)
		}, qemuCheckResult{Corruptions: 1, Leaks: 1}},
		{"refcount-zero", func(t *testing.T, d damageable) {
			d.setRefcount(t, d.firstData/d.h.clusterSize(), 0)
		}, qemuCheckResult{Corruptions: 2}},
	}
	for _, tc := range cases {
		for _, opts := range []string{"cluster_size=65536", "cluster_size=4096,compat=0.10", "cluster_size=512,refcount_bits=16"} {
			t.Run(tc.name+"/"+opts, func(t *testing.T) {
				t.Parallel()
				d := newDamageable(t, opts)
				tc.damage(t, d)
				got := requireCheckAgrees(t, d.path)
				if got.Corruptions != tc.want.Corruptions || got.Leaks != tc.want.Leaks {
					t.Fatalf("got %d corruptions, %d leaks; the damage should make %+v", got.Corruptions, got.Leaks, tc.want)
				}
			})
		}
	}
}

func TestCheckWalksSnapshotsAndBitmaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.qcow2")
	must(t, "qemu-img", "create", "-f", "qcow2", path, "4M")
	qemuIO(t, path, "qcow2", "write -P 1 0 300k")
	must(t, "qemu-img", "snapshot", "-c", "one", path)
	qemuIO(t, path, "qcow2", "write -P 2 64k 64k", "write -P 3 2M 64k")
	must(t, "qemu-img", "snapshot", "-c", "two", path)
	must(t, "qemu-img", "bitmap", "--add", path, "dirty")
	qemuIO(t, path, "qcow2", "write -P 4 128k 64k")
	res := requireCheckAgrees(t, path)
	if res.Corruptions != 0 || res.Leaks != 0 {
		t.Fatalf("clean image with snapshots and a bitmap: %+v", res)
	}
	info, err := inspectFile(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Snapshots != 2 {
		t.Fatalf("Inspect: %+v", info)
	}
	img, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if d := firstDiff(readAll(t, img), qemuRaw(t, path)); d >= 0 {
		t.Fatalf("image with snapshots reads differently from qemu-img at %#x", d)
	}
}

func inspectFile(t *testing.T, path string) (*Info, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	return Inspect(f, fi.Size())
}

func TestCheckRefcountWidths(t *testing.T) {
	for _, bits := range []string{"1", "2", "4", "8", "32", "64"} {
		t.Run(bits, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "img.qcow2")
			must(t, "qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096,refcount_bits="+bits, path, "2M")
			qemuIO(t, path, "qcow2", "write -P 5 0 300k", "write -P 6 1M 5k")
			if res := requireCheckAgrees(t, path); res.Corruptions != 0 || res.Leaks != 0 {
				t.Fatalf("%+v", res)
			}
		})
	}
}
