// Command boxlite-agent is the /init of a box VM. It prepares the guest
// (pseudo filesystems, virtio modules, the box's ext4 disks) and then serves
// the quiesce protocol (core/quiesce) on the virtio-serial port
// org.boxlite.agent until the host asks it to shut down.
//
// As PID 1 it never exits: on a fatal error it logs to the console and powers
// the VM off, so the host sees QEMU exit instead of waiting for a timeout.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/quiesce"
	"golang.org/x/sys/unix"
)

const (
	version     = "boxlite-agent/1"
	modulesDir  = "/lib/modules"
	mountsDir   = "/mnt"
	portTimeout = 30 * time.Second
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "boxlite-agent is the guest's /init; it does not run on a host")
		os.Exit(2)
	}
	prepareErr := mountPseudoFilesystems()
	attachConsole()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("agent", version)
	if prepareErr != nil {
		log.Error("mount pseudo filesystems", "err", prepareErr)
		powerOff(log)
	}
	if err := run(log); err != nil {
		log.Error("agent stopped", "err", err)
	}
	powerOff(log)
}

func run(log *slog.Logger) error {
	if err := loadModules(modulesDir, log); err != nil {
		return err
	}
	disks, err := mountDisks(mountsDir, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), portTimeout)
	defer cancel()
	port, err := openPort(ctx, quiesce.PortName)
	if err != nil {
		return err
	}
	defer port.Close()
	srv := newServer(disks, port, log)
	log.Info("serving", "port", port.Name(), "disks", len(disks))
	srv.serve(context.Background(), port)
	return nil
}

// powerOff ends the VM (QEMU runs with -no-reboot, so it exits). PID 1 must
// not return, so if the kernel refuses it waits forever.
func powerOff(log *slog.Logger) {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "err", err)
	}
	select {}
}
