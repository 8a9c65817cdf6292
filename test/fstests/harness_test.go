package fstests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mount is a home mounted by the boxlitefs command for one test.
type mount struct {
	t    *testing.T
	home string
	dir  string // the mountpoint
	tmp  string // scratch space outside the mount
	log  string // the daemon's log

	mounted bool
}

// requireFUSE skips when this machine cannot mount FUSE filesystems.
func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root (DirectMount)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
}

// newMount mounts a fresh home in the background, as a user would, and
// unmounts it when the test ends, even if it failed.
func newMount(t *testing.T) *mount {
	t.Helper()
	requireFUSE(t)
	return mountHome(t, t.TempDir(), t.TempDir(), t.TempDir())
}

// remount mounts the home of an unmounted m again.
func remount(t *testing.T, m *mount) *mount {
	t.Helper()
	return mountHome(t, m.home, m.dir, m.tmp)
}

func mountHome(t *testing.T, home, dir, tmp string) *mount {
	t.Helper()
	m := &mount{t: t, home: home, dir: dir, tmp: tmp, log: filepath.Join(tmp, "daemon.log")}
	os.Remove(m.log)
	out, err := exec.Command(binary, "mount", "--home", m.home, "--log", m.log, "-v", m.dir).CombinedOutput()
	if err != nil {
		t.Fatalf("boxlitefs mount: %v: %s", err, out)
	}
	m.mounted = true
	t.Cleanup(func() {
		if t.Failed() && m.mounted {
			if b, err := os.ReadFile(filepath.Join(m.dir, "log")); err == nil {
				t.Logf("mount log:\n%s", b)
			}
			if b, err := os.ReadFile(m.log); err == nil {
				t.Logf("daemon log:\n%s", tail(string(b), 60))
			}
		}
		m.unmount()
	})
	return m
}

// unmount detaches the mount and waits until the daemon let go of the home.
func (m *mount) unmount() {
	if !m.mounted {
		return
	}
	m.mounted = false
	out, err := exec.Command(binary, "umount", m.dir).CombinedOutput()
	if err != nil {
		m.t.Errorf("boxlitefs umount: %v: %s", err, out)
		return
	}
	waitFor(m.t, 10*time.Second, "the daemon to exit", func() bool {
		b, _ := os.ReadFile(m.log)
		return bytes.Contains(b, []byte("unmounted"))
	})
}

// result is what a shell command did.
type result struct {
	out  string // stdout and stderr together, as a user sees them
	code int
}

// sh runs a bash script inside the mount (bash, not dash: dash reports
// every failed write as "I/O error"), with $T set to the test's
// scratch directory and $H to the home.
func (m *mount) sh(script string) result {
	m.t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = m.dir
	cmd.Env = append(os.Environ(), "T="+m.tmp, "H="+m.home, "BOXLITEFS="+binary, "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		m.t.Fatalf("sh %q: %v", script, err)
	}
	return result{out: string(out), code: code}
}

// ok runs a script that must succeed and returns its output.
func (m *mount) ok(script string) string {
	m.t.Helper()
	r := m.sh(script)
	if r.code != 0 {
		m.t.Fatalf("%s\nexit %d: %s", script, r.code, r.out)
	}
	return r.out
}

// refused runs a script that must fail with a message containing want.
func (m *mount) refused(script, want string) {
	m.t.Helper()
	r := m.sh(script)
	if r.code == 0 {
		m.t.Fatalf("%s: succeeded, want a failure with %q: %s", script, want, r.out)
	}
	if !strings.Contains(r.out, want) {
		m.t.Fatalf("%s: exit %d: %q, want it to say %q", script, r.code, r.out, want)
	}
}

// boxInfo is the part of box.json the tests read.
type boxInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Origin *struct {
		Kind     string `json:"kind"`
		Box      string `json:"box"`
		Snapshot string `json:"snapshot"`
	} `json:"origin"`
}

func (m *mount) boxInfo(name string) boxInfo {
	m.t.Helper()
	var info boxInfo
	if err := json.Unmarshal([]byte(m.ok("cat boxes/"+name+"/box.json")), &info); err != nil {
		m.t.Fatalf("box.json of %s: %v", name, err)
	}
	return info
}

// activeDisk is the home's active file of a box's disk: writing it with
// qemu-io stands in for a running guest.
func (m *mount) activeDisk(box, disk string) string {
	return filepath.Join(m.home, "boxes", m.boxInfo(box).ID, disk)
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %v waiting for %s", limit, what)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
