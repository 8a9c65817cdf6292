package qcow2

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

func TestParseHeaderFromHead(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	if err := Create(base, 1<<30, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	over := filepath.Join(dir, "over.qcow2")
	if err := Create(over, 1<<30, CreateOptions{BackingFile: "base.qcow2", BackingFormat: FormatQcow2}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, backing string
	}{{base, ""}, {over, "base.qcow2"}} {
		data, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		info, err := ParseHeader(data[:4096])
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if info.VirtualSize != 1<<30 || info.ClusterBits != 16 || info.BackingFile != c.backing {
			t.Errorf("%s: %+v", c.path, info)
		}
	}
	for name, head := range map[string][]byte{
		"empty":     nil,
		"not qcow2": []byte("hello, this is not an image at all, really not"),
		"truncated": {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3},
	} {
		if _, err := ParseHeader(head); !errors.Is(err, errdefs.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
