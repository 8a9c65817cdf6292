package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// readyFDEnv names the descriptor on which a background mount reports
// that it is ready ("ok") or why it failed.
const readyFDEnv = "BOXLITEFS_READY_FD"

// daemonize runs this command again with -f in a new session, detached
// from the terminal, and returns once the child reports the mount ready.
func daemonize(ctx context.Context, args []string, logFile string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	out, err := daemonOutput(logFile)
	if err != nil {
		w.Close()
		return err
	}
	defer out.Close()
	cmd := exec.Command(self, append([]string{"mount", "-f"}, args...)...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close() // the child holds the only writer: EOF means it died
	msg, _ := bufio.NewReader(r).ReadString('\n')
	msg = strings.TrimSpace(msg)
	if msg == "ok" {
		return cmd.Process.Release()
	}
	_ = cmd.Wait()
	if msg == "" {
		return errors.New("the mount daemon exited before the mount was ready")
	}
	return errors.New(msg)
}

// daemonOutput is where a background daemon's log goes: the --log file,
// else nowhere (it must not hold the caller's terminal or pipes open).
func daemonOutput(logFile string) (*os.File, error) {
	if logFile == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	return os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// ready reports the outcome of a mount to the parent that daemonized it;
// in a plain foreground mount it only prints.
type ready struct{ w io.WriteCloser }

func readiness() ready {
	if os.Getenv(readyFDEnv) != "3" {
		return ready{}
	}
	os.Unsetenv(readyFDEnv)
	return ready{w: os.NewFile(3, "ready")}
}

func (r ready) ok() {
	if r.w != nil {
		fmt.Fprintln(r.w, "ok")
		r.w.Close()
	}
}

func (r ready) fail(cmd string, err error) int {
	if r.w != nil {
		fmt.Fprintln(r.w, strings.ReplaceAll(err.Error(), "\n", "; "))
		r.w.Close()
	}
	return fail(cmd, err)
}
