package boxsnap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// ManifestVersion is the only archive version this package writes and reads.
const ManifestVersion = 1

// Member names, in the order the writer emits them.
const (
	MemberGuestDisk     = "guest-rootfs.qcow2"
	MemberContainerDisk = "disk.qcow2"
	MemberManifest      = "manifest.json"
)

// MaxManifestSize bounds manifest.json: it holds names and settings, never data.
const MaxManifestSize = 1 << 20

const checksumPrefix = "sha256:"

var errChecksumSyntax = errors.New(`want "sha256:" and 64 lowercase hex digits`)

// Manifest is BoxLite's ArchiveManifest under its JSON names, plus a few
// informational fields that older readers ignore.
type Manifest struct {
	Version               int       `json:"version"`
	BoxName               string    `json:"box_name"`
	Image                 string    `json:"image"`
	GuestDiskChecksum     string    `json:"guest_disk_checksum"`     // "sha256:<64 lowercase hex>"
	ContainerDiskChecksum string    `json:"container_disk_checksum"` // "sha256:<64 lowercase hex>"
	ExportedAt            time.Time `json:"exported_at"`             // RFC 3339
	// Snapshot names the snapshot exported, empty for the box's current state.
	Snapshot string `json:"snapshot,omitempty"`
	// GuestDiskSize and ContainerDiskSize are the disks' virtual sizes.
	GuestDiskSize     int64 `json:"guest_disk_size,omitempty"`
	ContainerDiskSize int64 `json:"container_disk_size,omitempty"`
	// Options holds the box's settings as a JSON object, when exported with
	// include_metadata.
	Options json.RawMessage `json:"options,omitempty"`
}

// marshal encodes m for the archive. Indented so that `tar -xO` is readable;
// encoding/json emits struct fields in order, so the bytes are deterministic.
func (m *Manifest) marshal() ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, invalid("encoding manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// ParseManifest decodes and validates manifest.json. Unknown fields are
// ignored; known fields must have their exact types.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, corrupt("manifest is %d bytes, more than %d", len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, corrupt("manifest is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, corrupt("manifest has data after its JSON object")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Version != ManifestVersion {
		return corrupt("manifest version %d is not supported (this reader knows %d)", m.Version, ManifestVersion)
	}
	if _, err := parseChecksum(m.GuestDiskChecksum); err != nil {
		return corrupt("manifest guest_disk_checksum: %w", err)
	}
	if _, err := parseChecksum(m.ContainerDiskChecksum); err != nil {
		return corrupt("manifest container_disk_checksum: %w", err)
	}
	if m.GuestDiskSize < 0 || m.ContainerDiskSize < 0 {
		return corrupt("manifest has a negative disk size")
	}
	if err := checkOptions(m.Options); err != nil {
		return corrupt("manifest options: %w", err)
	}
	return nil
}

// checkOptions accepts an absent (or null) options field or a JSON object.
func checkOptions(raw json.RawMessage) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return errors.New("not a JSON object")
	}
	return nil
}

// formatChecksum renders a sha256 sum as the manifest writes it.
func formatChecksum(sum [32]byte) string {
	return checksumPrefix + hex.EncodeToString(sum[:])
}

// parseChecksum accepts exactly "sha256:" and 64 lowercase hex digits.
func parseChecksum(s string) ([32]byte, error) {
	var sum [32]byte
	digits, ok := strings.CutPrefix(s, checksumPrefix)
	if !ok || len(digits) != 2*len(sum) || strings.ToLower(digits) != digits {
		return sum, errChecksumSyntax
	}
	if _, err := hex.Decode(sum[:], []byte(digits)); err != nil {
		return sum, errChecksumSyntax
	}
	return sum, nil
}
