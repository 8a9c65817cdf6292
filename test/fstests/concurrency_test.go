package fstests

import (
	"strings"
	"testing"
)

// TestConcurrentMutations races snapshots, restores and removals of one box
// from parallel shells: nothing hangs, and each refusal is EBUSY ("Device or
// resource busy") with nothing half-made (SPEC 2.6).
func TestConcurrentMutations(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x && mkdir boxes/x/snapshots/base")
	out := m.sh(`
for i in $(seq 1 12); do
	mkdir boxes/x/snapshots/s$i 2>&1 &
	echo base > boxes/x/restore 2>&1 &
	rmdir boxes/x/snapshots/s$((i-1)) 2>/dev/null &
done
wait`).out
	for _, l := range lines(out) {
		if !strings.Contains(l, "Device or resource busy") {
			t.Errorf("unexpected failure: %s", l)
		}
	}
	t.Logf("%d refusals with EBUSY", strings.Count(out, "busy"))
	// Every snapshot that exists is whole, and the box is usable.
	for _, s := range lines(m.ok("ls boxes/x/snapshots")) {
		m.ok("qemu-img check boxes/x/snapshots/" + s + "/disk.qcow2 >/dev/null && cat boxes/x/snapshots/" + s + "/snapshot.json >/dev/null")
	}
	if got := m.ok("cat boxes/x/state"); got != "stopped\n" {
		t.Fatalf("state after the race: %q", got)
	}
	m.ok("echo base > boxes/x/restore && mkdir boxes/x/snapshots/after")
}
