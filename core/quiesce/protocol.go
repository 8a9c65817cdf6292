// Package quiesce is the host side of the boxlite guest agent's protocol: it
// asks the agent inside a running box to freeze its filesystems (FIFREEZE) so
// the host can capture consistent disks, and to thaw them again.
//
// The protocol is one JSON object per line over the VM's virtio-serial port
// (a unix socket on the host). Every request carries an id that its response
// repeats, so a late answer to an abandoned request is recognised and dropped.
// The agent (cmd/boxlite-agent) runs freeze, thaw, sync and shutdown strictly
// in the order they arrive, and file requests concurrently, so a write that
// blocks on a frozen filesystem never delays the thaw that releases it.
package quiesce

import (
	"errors"
	"fmt"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// PortName is the virtio-serial port the agent serves on.
const PortName = "org.boxlite.agent"

// Operations.
const (
	OpPing      = "ping"       // answers with Status
	OpFreeze    = "freeze"     // FIFREEZE every mounted data filesystem; idempotent
	OpThaw      = "thaw"       // FITHAW them; idempotent
	OpSync      = "sync"       // sync(2)
	OpWriteFile = "write-file" // replace Disk:Path with Data, fsync
	OpReadFile  = "read-file"  // Data = the content of Disk:Path
	OpShutdown  = "shutdown"   // thaw, sync, unmount, answer, power off
)

// Limits that keep both sides' memory bounded whatever the peer sends.
const (
	// MaxLine bounds one protocol line; a longer one is discarded unread.
	MaxLine = 1 << 20
	// MaxFileData bounds a file's content in WriteFile and ReadFile
	// (base64 grows it by a third, which still fits in MaxLine).
	MaxFileData = 512 << 10
	// MaxFreezeHold bounds how long the agent stays frozen without a thaw.
	MaxFreezeHold = 10 * time.Minute
	// DefaultFreezeHold is how long the agent stays frozen when the host
	// neither thaws nor disconnects.
	DefaultFreezeHold = time.Minute
)

// Request is one line from the host.
type Request struct {
	ID uint64 `json:"id"`
	// Session is the same in every request of one host connection and
	// differs between connections, so the agent notices a new host even
	// when the port's own disconnect went unseen (a fast reconnect).
	Session uint64 `json:"session,omitempty"`
	Op      string `json:"op"`
	Disk    string `json:"disk,omitempty"` // file ops: which mounted disk
	Path    string `json:"path,omitempty"` // file ops: a local path inside it
	Data    []byte `json:"data,omitempty"` // write-file: the content
	// HoldMillis is how long a freeze may last before the agent thaws by
	// itself (0 = DefaultFreezeHold, capped at MaxFreezeHold).
	HoldMillis int64 `json:"hold_ms,omitempty"`
}

// Response is one line from the agent.
type Response struct {
	ID     uint64  `json:"id"`
	Error  string  `json:"error,omitempty"`
	Code   string  `json:"code,omitempty"` // the error's class, see CodeOf
	Data   []byte  `json:"data,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status describes the guest as the agent sees it.
type Status struct {
	Version string `json:"version"`
	Frozen  bool   `json:"frozen"`
	Disks   []Disk `json:"disks"`
}

// Disk is a data filesystem the agent mounted.
type Disk struct {
	Name   string `json:"name"`   // the virtio serial the host gave the disk, else the device name
	Device string `json:"device"` // e.g. "vdb"
	Mount  string `json:"mount"`  // where it is mounted in the guest
}

// classes lists the errdefs classes an agent-side failure may carry, by the
// code that names it on the wire.
func classes() [7]struct {
	code string
	err  error
} {
	return [...]struct {
		code string
		err  error
	}{
		{"notfound", errdefs.ErrNotFound},
		{"exists", errdefs.ErrExists},
		{"invalid", errdefs.ErrInvalid},
		{"busy", errdefs.ErrBusy},
		{"readonly", errdefs.ErrReadOnly},
		{"corrupt", errdefs.ErrCorrupt},
		{"unsupported", errdefs.ErrUnsupported},
	}
}

// CodeOf names err's errdefs class for a Response ("" when it has none).
func CodeOf(err error) string {
	for _, c := range classes() {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// remoteError rebuilds an agent-side failure with its errdefs class.
func remoteError(op string, r Response) error {
	for _, c := range classes() {
		if c.code == r.Code {
			return fmt.Errorf("agent %s: %s: %w", op, r.Error, c.err)
		}
	}
	return fmt.Errorf("agent %s: %s", op, r.Error)
}
