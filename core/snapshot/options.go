package snapshot

// SnapshotOptions mirror BoxLite's; use DefaultSnapshotOptions, the zero value
// is not the default.
type SnapshotOptions struct {
	Quiesce            bool `json:"quiesce"`
	QuiesceTimeoutSecs int  `json:"quiesce_timeout_secs"`
	StopOnQuiesceFail  bool `json:"stop_on_quiesce_fail"`
}

// DefaultSnapshotOptions: quiesce=true, quiesce_timeout_secs=30, stop_on_quiesce_fail=true.
func DefaultSnapshotOptions() SnapshotOptions {
	return SnapshotOptions{Quiesce: true, QuiesceTimeoutSecs: 30, StopOnQuiesceFail: true}
}

// ExportOptions mirror BoxLite's; use DefaultExportOptions.
type ExportOptions struct {
	Compress         bool `json:"compress"`
	CompressionLevel int  `json:"compression_level"` // zstd 1..22
	IncludeMetadata  bool `json:"include_metadata"`
	// Progress, when set, receives uncompressed bytes done and the total.
	Progress func(done, total int64) `json:"-"`
}

// DefaultExportOptions: compress=true, compression_level=3, include_metadata=true.
func DefaultExportOptions() ExportOptions {
	return ExportOptions{Compress: true, CompressionLevel: 3, IncludeMetadata: true}
}

// CloneOptions mirror BoxLite's; use DefaultCloneOptions.
type CloneOptions struct {
	COW             bool   `json:"cow"`
	StartAfterClone bool   `json:"start_after_clone"`
	FromSnapshot    string `json:"from_snapshot,omitempty"`
}

// DefaultCloneOptions: cow=true, start_after_clone=false, from_snapshot="".
func DefaultCloneOptions() CloneOptions {
	return CloneOptions{COW: true}
}

// CreateOptions says how a new box is made.
type CreateOptions struct {
	FromDir  string // fill the container disk from this directory (mkfs.ext4 -d)
	DiskSize int64  // container disk virtual size; 0 = DefaultDiskSize
	Image    string // the image name recorded in BoxInfo
}

// DefaultDiskSize is the container disk's virtual size when none is given.
const DefaultDiskSize int64 = 10 << 30

// ImportOptions tunes Runtime.Import.
type ImportOptions struct {
	Progress func(done, total int64) // total is -1 when unknown
}
