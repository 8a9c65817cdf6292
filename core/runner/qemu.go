package runner

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

// kernelCmdline: quiet keeps the emulated serial console (slow under TCG)
// short; panic=-1 with QEMU's -no-reboot turns a guest panic into a QEMU
// exit the host sees at once.
const kernelCmdline = "console=ttyS0 panic=-1 quiet"

// vmPaths are the files of one VM in its run directory.
type vmPaths struct {
	qmp, agent, console string
}

// qemuArgs is the command line of one VM. Disks are named drives, so QMP
// addresses each by its id whatever its current top layer.
func qemuArgs(cfg Config, accel string, spec Spec, p vmPaths) []string {
	args := []string{
		"-machine", "pc", "-accel", accel,
		"-nodefaults", "-nographic", "-no-user-config", "-no-reboot",
		"-m", strconv.Itoa(cfg.MemoryMiB), "-smp", strconv.Itoa(cfg.CPUs),
		"-kernel", cfg.Kernel, "-initrd", cfg.Initrd, "-append", kernelCmdline,
		"-serial", "file:" + p.console,
		"-chardev", "socket,id=qmp,server=on,wait=off,path=" + optValue(p.qmp),
		"-mon", "chardev=qmp,mode=control",
	}
	for _, d := range spec.disks() {
		args = append(args,
			"-drive", fmt.Sprintf("if=none,id=%s,node-name=%s-0,format=qcow2,file=%s", d.name, d.name, optValue(d.path)),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=%s,serial=%s", d.name, d.name))
	}
	return append(args,
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", "socket,id=agent,server=on,wait=off,path="+optValue(p.agent),
		"-device", "virtserialport,bus=vser.0,chardev=agent,name="+quiesce.PortName)
}

// optValue escapes a value inside a QEMU option list, where ',' separates.
func optValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// startProcess starts cmd and reports its exit on the returned channel.
// The child gets SIGKILL if this process dies (PR_SET_PDEATHSIG). That
// signal follows the thread that forked, so the fork happens on a locked
// thread that lives exactly as long as the child.
func startProcess(cmd *exec.Cmd) (<-chan error, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true, // a terminal's Ctrl-C is for boxlitefs, which stops its VMs
	}
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// tailBuffer keeps the last bytes written to it: QEMU's stderr, for errors.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// fileTail returns up to the last n bytes of a file (a console log).
func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	k, _ := f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf[:k]))
}
