package qcow2

// Format names an image format, as written in the backing-format header
// extension and as QEMU spells it.
type Format string

const (
	FormatQcow2 Format = "qcow2"
	FormatRaw   Format = "raw"
)

// DefaultMaxDepth is how many layers a chain may have when OpenOptions.MaxDepth
// is zero. Deeper chains are refused: they are either a loop that escaped
// detection or a store that needs compaction.
const DefaultMaxDepth = 1024

// On-disk constants from QEMU's docs/interop/qcow2.rst.
const (
	qcowMagic = 0x514649fb

	v2HeaderLength = 72
	v3HeaderLength = 104
	// ourHeaderLength includes the compression_type field and its padding, as
	// QEMU writes it.
	ourHeaderLength = 112

	minClusterBits     = 9
	maxClusterBits     = 21 // QEMU's limit: 2 MiB clusters
	defaultClusterBits = 16

	maxBackingNameLen = 1023
	// QEMU refuses larger tables; so do we, which also bounds what a header
	// can make us allocate.
	maxL1Bytes            = 32 << 20
	maxRefcountTableBytes = 8 << 20
	maxSnapshots          = 65536
	maxRefcountOrder      = 6
	v2RefcountOrder       = 4
	ourRefcountOrder      = 4 // 16-bit refcounts, QEMU's default
)

// Incompatible feature bits.
const (
	incompatDirty           = 1 << 0
	incompatCorrupt         = 1 << 1
	incompatExternalData    = 1 << 2
	incompatCompressionType = 1 << 3
	incompatExtendedL2      = 1 << 4
	incompatKnown           = 1<<5 - 1
)

// Header extension types.
const (
	extEnd           = 0x00000000
	extBackingFormat = 0xe2792aca
	extFeatureNames  = 0x6803f857
	extBitmaps       = 0x23852875
	extCrypto        = 0x0537be77
	extDataFile      = 0x44415441
)

// Compression types (header byte 104).
const (
	compressionDeflate = 0
	compressionZstd    = 1
)

// L1 and L2 entry bits.
const (
	entryCopied     = uint64(1) << 63 // refcount is exactly one
	entryCompressed = uint64(1) << 62
	entryZero       = uint64(1) // v3 standard cluster reads as zeros
	// offsetMask selects bits 9-55: a cluster-aligned host offset.
	offsetMask = uint64(0x00fffffffffffe00)
)

const sectorSize = 512
