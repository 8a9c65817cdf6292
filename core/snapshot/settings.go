package snapshot

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// Settings are a box's persisted options (SPEC 2.5): the defaults for its
// snapshots, exports and clones.
type Settings struct {
	Snapshot SnapshotOptions `json:"snapshot"`
	Export   ExportOptions   `json:"export"`
	Clone    CloneOptions    `json:"clone"`
}

// DefaultSettings are BoxLite's defaults.
func DefaultSettings() Settings {
	return Settings{
		Snapshot: DefaultSnapshotOptions(),
		Export:   DefaultExportOptions(),
		Clone:    DefaultCloneOptions(),
	}
}

// setting binds one settings key to its field, with its parser and bounds.
type setting struct {
	key     string
	boolean *bool
	integer *int
	min     int
	max     int
}

func (s *Settings) table() []setting {
	return []setting{
		{key: "snapshot.quiesce", boolean: &s.Snapshot.Quiesce},
		{key: "snapshot.quiesce_timeout_secs", integer: &s.Snapshot.QuiesceTimeoutSecs, min: 1, max: 3600},
		{key: "snapshot.stop_on_quiesce_fail", boolean: &s.Snapshot.StopOnQuiesceFail},
		{key: "export.compress", boolean: &s.Export.Compress},
		{key: "export.compression_level", integer: &s.Export.CompressionLevel, min: 1, max: 22},
		{key: "export.include_metadata", boolean: &s.Export.IncludeMetadata},
		{key: "clone.cow", boolean: &s.Clone.COW},
		{key: "clone.start_after_clone", boolean: &s.Clone.StartAfterClone},
	}
}

// SettingKeys lists the settings file names in a stable order.
func SettingKeys() []string {
	var s Settings
	var keys []string
	for _, e := range s.table() {
		keys = append(keys, e.key)
	}
	return keys
}

// Get formats one setting as text (no trailing newline).
func (s Settings) Get(key string) (string, error) {
	for _, e := range s.table() {
		if e.key != key {
			continue
		}
		if e.boolean != nil {
			return strconv.FormatBool(*e.boolean), nil
		}
		return strconv.Itoa(*e.integer), nil
	}
	return "", fmt.Errorf("no setting %q: %w", key, errdefs.ErrNotFound)
}

// Set parses and stores one setting. Surrounding white space (a trailing
// newline from echo) is ignored; anything else that does not parse, or is out
// of range, is ErrInvalid and changes nothing.
func (s *Settings) Set(key, value string) error {
	v := strings.TrimSpace(value)
	for _, e := range s.table() {
		if e.key != key {
			continue
		}
		if e.boolean != nil {
			b, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false: %w", key, v, errdefs.ErrInvalid)
			}
			*e.boolean = b
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < e.min || n > e.max {
			return fmt.Errorf("%s: %q is not a whole number from %d to %d: %w", key, v, e.min, e.max, errdefs.ErrInvalid)
		}
		*e.integer = n
		return nil
	}
	return fmt.Errorf("no setting %q: %w", key, errdefs.ErrNotFound)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, errdefs.ErrInvalid
}
