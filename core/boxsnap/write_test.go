package boxsnap

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

func TestWriteRefusesBadRequests(t *testing.T) {
	img := syntheticImage(1<<20, 1)
	short := Disk{Size: 100, WriteTo: func(ctx context.Context, w io.Writer) (int64, error) {
		n, err := w.Write(img)
		return int64(n), err
	}}
	cases := []struct {
		name      string
		m         Manifest
		guest     Disk
		opts      WriteOptions
		wantClass error
	}{
		{"level 23", testManifest(), bytesDisk(img), WriteOptions{Compress: true, Level: 23}, errdefs.ErrInvalid},
		{"negative level", testManifest(), bytesDisk(img), WriteOptions{Compress: true, Level: -1}, errdefs.ErrInvalid},
		{"negative concurrency", testManifest(), bytesDisk(img), WriteOptions{Concurrency: -1}, errdefs.ErrInvalid},
		{"no WriteTo", testManifest(), Disk{Size: 10}, WriteOptions{}, errdefs.ErrInvalid},
		{"options not an object", Manifest{Options: []byte(`[1,2]`)}, bytesDisk(img), WriteOptions{}, errdefs.ErrInvalid},
		{"more bytes than declared", testManifest(), short, WriteOptions{Compress: true}, tar.ErrWriteTooLong},
		{"fewer bytes than declared", testManifest(), Disk{Size: int64(len(img)) + 1, WriteTo: bytesDisk(img).WriteTo},
			WriteOptions{Compress: true}, errdefs.ErrInvalid},
	}
	for _, c := range cases {
		err := Write(context.Background(), io.Discard, c.m, c.guest, bytesDisk(img), c.opts)
		if !errors.Is(err, c.wantClass) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.wantClass)
		}
	}
}

// A disk's own failure keeps its class, so the engine can map it.
func TestWritePassesDiskErrorsThrough(t *testing.T) {
	img := syntheticImage(1<<20, 1)
	failing := Disk{Size: 1 << 20, WriteTo: func(ctx context.Context, w io.Writer) (int64, error) {
		return 0, fmt.Errorf("layer gone: %w", errdefs.ErrNotFound)
	}}
	err := Write(context.Background(), io.Discard, testManifest(), bytesDisk(img), failing, WriteOptions{Compress: true})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func TestWriteStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	endless := Disk{Size: 1 << 40, WriteTo: func(ctx context.Context, w io.Writer) (int64, error) {
		chunk := make([]byte, 64<<10)
		var n int64
		for i := 0; ; i++ {
			if i == 10 {
				cancel()
			}
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
	}}
	err := Write(ctx, io.Discard, testManifest(), endless, bytesDisk(nil), WriteOptions{Compress: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// Disks of 8 GiB and more do not fit ustar's size field; the header then
// carries a PAX size record that archive/tar and GNU tar read.
func TestLargeMemberHeader(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(memberHeader(MemberGuestDisk, 1<<34, time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
	hdr, err := tar.NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Size != 1<<34 || hdr.Name != MemberGuestDisk || hdr.Typeflag != tar.TypeReg {
		t.Errorf("read back %+v", hdr)
	}
}

func TestZeroModTimeIsTheEpoch(t *testing.T) {
	archive := writeArchive(t, bytesDisk(syntheticImage(1<<20, 1)), bytesDisk(syntheticImage(1<<20, 2)), WriteOptions{})
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.ModTime.Unix() != 0 || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Mode != 0o644 {
			t.Errorf("%s: header %+v is not the deterministic one", hdr.Name, hdr)
		}
	}
}
