package snapshot

import "time"

// Disk names one of a box's two disks.
type Disk string

const (
	GuestDisk     Disk = "guest-rootfs" // the guest VM's disk
	ContainerDisk Disk = "disk"         // the container disk (ext4)
)

// AllDisks lists a box's disks in their canonical order.
func AllDisks() []Disk { return []Disk{GuestDisk, ContainerDisk} }

// FileName is the disk's file name in a box or snapshot directory.
func (d Disk) FileName() string { return string(d) + ".qcow2" }

// DiskFromFileName is the inverse of FileName.
func DiskFromFileName(name string) (Disk, bool) {
	for _, d := range AllDisks() {
		if d.FileName() == name {
			return d, true
		}
	}
	return "", false
}

// State is a box's lifecycle state (SPEC 2.6).
type State string

const (
	Stopped      State = "stopped"
	Running      State = "running"
	Snapshotting State = "snapshotting"
	Restoring    State = "restoring"
	Exporting    State = "exporting"
)

// Consistency says how a snapshot's disks were captured.
type Consistency string

const (
	Clean    Consistency = "clean"    // the box was stopped
	Quiesced Consistency = "quiesced" // running; the guest froze its filesystems
	Crash    Consistency = "crash"    // running; captured without the guest's help
)

// BoxInfo describes a box (box.json).
type BoxInfo struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Image             string    `json:"image"`
	Status            State     `json:"status"`
	CreatedAt         time.Time `json:"created_at"`
	GuestDiskSize     int64     `json:"guest_disk_size"`     // virtual bytes
	ContainerDiskSize int64     `json:"container_disk_size"` // virtual bytes
	Origin            *Origin   `json:"origin,omitempty"`
}

// Origin records where a box came from.
type Origin struct {
	Kind     string `json:"kind"`               // "empty", "directory", "clone", "import"
	Box      string `json:"box,omitempty"`      // source box name at the time, for clones
	BoxID    string `json:"box_id,omitempty"`   // source box id, for clones
	Snapshot string `json:"snapshot,omitempty"` // source snapshot, for clones from a snapshot
}

// SnapshotInfo describes a snapshot (snapshot.json).
type SnapshotInfo struct {
	ID                 string      `json:"id"`
	BoxID              string      `json:"box_id"`
	Name               string      `json:"name"`
	CreatedAt          time.Time   `json:"created_at"`
	SizeBytes          int64       `json:"size_bytes"`           // bytes the frozen layers occupy
	GuestDiskBytes     int64       `json:"guest_disk_bytes"`     // virtual size of the guest disk
	ContainerDiskBytes int64       `json:"container_disk_bytes"` // virtual size of the container disk
	Consistency        Consistency `json:"consistency"`
}
