package qcow2

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The QEMU tools are the oracle: every image these tests read is made by
// them, and everything this package writes is judged by them.

// runCmd runs a command and returns its stdout and exit code; it fails the test
// only when the command cannot run at all.
func runCmd(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Logf("%s %s: exit %d: %s", name, strings.Join(args, " "), exit.ExitCode(), stderr.String())
		return stdout.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return stdout.String(), 0
}

// must runs a command that has to succeed.
func must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, code := runCmd(t, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d", name, strings.Join(args, " "), code)
	}
	return out
}

// qemuIO runs qemu-io commands on img in one process.
func qemuIO(t testing.TB, img, format string, cmds ...string) {
	t.Helper()
	if len(cmds) == 0 {
		return
	}
	args := []string{"-f", format}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out := must(t, "qemu-io", append(args, img)...)
	if strings.Contains(out, "error") || strings.Contains(out, "failed") {
		t.Fatalf("qemu-io %s: %s", img, out)
	}
}

// qemuRaw returns the guest content of img as qemu-img sees it.
func qemuRaw(t testing.TB, img string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "raw")
	must(t, "qemu-img", "convert", "-O", "raw", img, out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type qemuCheckResult struct {
	Corruptions int `json:"corruptions"`
	Leaks       int `json:"leaks"`
	CheckErrors int `json:"check-errors"`
	Exit        int `json:"-"`
}

// qemuCheck runs qemu-img check (exit 0 clean, 2 corrupt, 3 leaks).
func qemuCheck(t testing.TB, img string) qemuCheckResult {
	t.Helper()
	out, code := runCmd(t, "qemu-img", "check", "--output=json", img)
	var r qemuCheckResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("qemu-img check %s: exit %d, output %q: %v", img, code, out, err)
	}
	r.Exit = code
	return r
}

// requireClean fails unless qemu-img check finds no errors and no leaks.
func requireClean(t testing.TB, img string) {
	t.Helper()
	if r := qemuCheck(t, img); r.Exit != 0 || r.Corruptions != 0 || r.Leaks != 0 || r.CheckErrors != 0 {
		t.Fatalf("qemu-img check %s: %+v", img, r)
	}
}

// requireSame fails unless qemu-img compare says a and b read the same.
func requireSame(t testing.TB, a, b string) {
	t.Helper()
	if _, code := runCmd(t, "qemu-img", "compare", a, b); code != 0 {
		t.Fatalf("qemu-img compare %s %s: exit %d", a, b, code)
	}
}

type qemuMapEntry struct {
	Start  int64 `json:"start"`
	Length int64 `json:"length"`
	Depth  int   `json:"depth"`
	Zero   bool  `json:"zero"`
	Data   bool  `json:"data"`
}

// qemuJSON runs qemu-img with args and decodes its JSON output into v.
func qemuJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(must(t, "qemu-img", args...)), v); err != nil {
		t.Fatalf("qemu-img %s: %v", strings.Join(args, " "), err)
	}
}

func qemuMap(t testing.TB, img string) []qemuMapEntry {
	t.Helper()
	var m []qemuMapEntry
	qemuJSON(t, &m, "map", "--output=json", img)
	return m
}

type qemuInfo struct {
	Filename              string `json:"filename"`
	Format                string `json:"format"`
	VirtualSize           int64  `json:"virtual-size"`
	ClusterSize           int    `json:"cluster-size"`
	BackingFilename       string `json:"backing-filename"`
	FullBackingFilename   string `json:"full-backing-filename"`
	BackingFilenameFormat string `json:"backing-filename-format"`
}

func qemuChain(t testing.TB, img string) []qemuInfo {
	t.Helper()
	var chain []qemuInfo
	qemuJSON(t, &chain, "info", "--backing-chain", "--output=json", img)
	return chain
}

// readAll reads the whole guest disk of src.
func readAll(t testing.TB, src Source) []byte {
	t.Helper()
	buf := make([]byte, src.Size())
	if n, err := src.ReadAt(buf, 0); n != len(buf) || (err != nil && n < len(buf)) {
		t.Fatalf("ReadAt: %d of %d bytes: %v", n, len(buf), err)
	}
	return buf
}

// firstDiff returns the first offset where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
