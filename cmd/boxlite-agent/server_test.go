package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

// The agent's server on the host, with the real client on the other end of
// a pipe and plain directories as its disks. Freezing and unmounting are
// exercised in a VM (core/runner): here the server has no mounts, as
// FIFREEZE on a test directory would freeze the host's own filesystem.

type agentPair struct {
	srv     *server
	client  *quiesce.Client // nil for a raw pair
	host    net.Conn        // the host's end of the port
	powered chan struct{}
}

// newAgentPair serves plain directories; with a client unless raw.
func newAgentPair(t *testing.T, raw bool) *agentPair {
	t.Helper()
	disks := []quiesce.Disk{
		{Name: "guest-rootfs", Device: "vda", Mount: t.TempDir()},
		{Name: "container", Device: "vdb", Mount: t.TempDir()},
	}
	hostEnd, guestEnd := net.Pipe()
	log := slog.New(slog.DiscardHandler)
	srv := newServerOn(disks, nil, guestEnd, log)
	p := &agentPair{srv: srv, host: hostEnd, powered: make(chan struct{})}
	srv.powerOff = func() { close(p.powered) }
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		srv.serve(ctx, guestEnd)
		close(served)
	}()
	if !raw {
		p.client = quiesce.NewClient(hostEnd, quiesce.Options{}, log)
	}
	t.Cleanup(func() {
		cancel()
		hostEnd.Close()
		if p.client != nil {
			p.client.Close()
		}
		<-served
	})
	return p
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAgentPingAndFiles(t *testing.T) {
	p := newAgentPair(t, false)
	ctx := ctxFor(t)
	st, err := p.client.Ping(ctx)
	if err != nil || st.Version != version || len(st.Disks) != 2 || st.Frozen {
		t.Fatalf("ping: %+v, %v", st, err)
	}
	if err := p.client.WriteFile(ctx, "container", "a/b/c.txt", []byte("data")); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(filepath.Join(p.srv.disks[1].Mount, "a", "b", "c.txt"))
	if err != nil || string(onDisk) != "data" {
		t.Fatalf("file on disk: %q, %v", onDisk, err)
	}
	if got, err := p.client.ReadFile(ctx, "container", "a/b/c.txt"); err != nil || string(got) != "data" {
		t.Fatalf("read back: %q, %v", got, err)
	}
	if err := p.client.WriteFile(ctx, "container", "a/b/c.txt", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.client.ReadFile(ctx, "container", "a/b/c.txt"); string(got) != "new" {
		t.Fatalf("rewrite: %q", got)
	}
	if err := p.client.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAgentRefusesBadFileRequests(t *testing.T) {
	p := newAgentPair(t, false)
	ctx := ctxFor(t)
	mount := p.srv.disks[1].Mount
	if err := os.Symlink("/etc", filepath.Join(mount, "escape")); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(mount, "big")
	if err := os.WriteFile(big, make([]byte, quiesce.MaxFileData+1), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, disk, path string
		want             error
	}{
		{"parent path", "container", "../x", errdefs.ErrInvalid},
		{"absolute path", "container", "/etc/passwd", errdefs.ErrInvalid},
		{"empty path", "container", "", errdefs.ErrInvalid},
		{"unknown disk", "nodisk", "x", errdefs.ErrNotFound},
		{"missing file", "container", "nope", errdefs.ErrNotFound},
		{"file too large", "container", "big", errdefs.ErrInvalid},
		{"symlink out of the disk", "container", "escape/passwd", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := p.client.ReadFile(ctx, tc.disk, tc.path)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("read %s:%s: got %q, %v; want %v", tc.disk, tc.path, data, err, tc.want)
			}
		})
	}
	if err := p.client.WriteFile(ctx, "container", "escape/x", []byte("x")); err == nil {
		t.Fatal("write through a symlink out of the disk succeeded")
	}
}

func TestAgentAnswersJunkWithoutStopping(t *testing.T) {
	p := newAgentPair(t, true)
	lines := quiesce.NewLineReader(p.host, quiesce.MaxLine)
	send := func(s string) quiesce.Response {
		t.Helper()
		p.host.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := p.host.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		line, err := lines.Next()
		if err != nil {
			t.Fatal(err)
		}
		var r quiesce.Response
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := send("{not json\n"); r.Code != "invalid" {
		t.Fatalf("malformed: %+v", r)
	}
	if r := send(`{"id":7,"op":"format-disk"}` + "\n"); r.ID != 7 || r.Code != "invalid" {
		t.Fatalf("unknown op: %+v", r)
	}
	if r := send(`{"id":8,"op":"ping"}` + "\n"); r.ID != 8 || r.Status == nil {
		t.Fatalf("ping after junk: %+v", r)
	}
}

func TestAgentShutdownAnswersThenPowersOff(t *testing.T) {
	p := newAgentPair(t, false)
	if err := p.client.Shutdown(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.powered:
	case <-time.After(5 * time.Second):
		t.Fatal("no power off after shutdown")
	}
}

func TestAgentNoticesANewHostSession(t *testing.T) {
	p := newAgentPair(t, true)
	lines := quiesce.NewLineReader(p.host, quiesce.MaxLine)
	for _, session := range []int{1, 1, 2} {
		p.host.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(p.host, `{"id":1,"session":%d,"op":"ping"}`+"\n", session); err != nil {
			t.Fatal(err)
		}
		if _, err := lines.Next(); err != nil {
			t.Fatal(err)
		}
	}
	// A queued freeze of the first host would now be dropped.
	if got := p.srv.conn.Load(); got != 1 {
		t.Fatalf("host generations: %d, want 1 (one change of session)", got)
	}
}
