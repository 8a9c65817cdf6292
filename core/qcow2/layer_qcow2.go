package qcow2

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
)

// qcow2Layer reads one qcow2 file of a chain. Its L1 table is held in memory
// (validated at open); its L2 tables go through the chain's shared cache.
type qcow2Layer struct {
	path     string
	f        *os.File
	fileSize int64
	h        *header
	l1       []int64 // host offsets of the L2 tables; 0 = none
	id       int32   // position in the chain, the cache key
	cache    *l2Cache
	decoder  l2Decoder
	inflate  *decompressor
	rawL2    sync.Pool // *[]byte of one cluster: raw tables being decoded
	// last is the table this layer used last, when it is small: walking a
	// deep chain asks every layer for the same table over and over, and the
	// shared cache's lock and map would cost more than the walk.
	last atomic.Pointer[recentTable]
}

// recentTable is a decoded L2 table and its L1 index.
type recentTable struct {
	index int64
	spans []span
}

// maxRecentSpans bounds the table a layer keeps outside the cache's budget,
// so a chain of a thousand layers holds at most a few MiB this way.
const maxRecentSpans = 128

func openQcow2Layer(path string, f *os.File, fileSize int64, id int32, cache *l2Cache) (*qcow2Layer, error) {
	h, err := parseReadableHeader(f, fileSize)
	if err != nil {
		return nil, err
	}
	l1, err := readL1(f, h, fileSize)
	if err != nil {
		return nil, err
	}
	return &qcow2Layer{
		path: path, f: f, fileSize: fileSize, h: h, l1: l1, id: id, cache: cache,
		decoder: l2Decoder{clusterBits: h.clusterBits, fileSize: fileSize},
		inflate: newDecompressor(int(h.clusterSize()), h.compression),
	}, nil
}

// readL1 reads the active L1 table and checks that every L2 table it points
// to lies wholly inside the file, outside the header cluster.
func readL1(f io.ReaderAt, h *header, fileSize int64) ([]int64, error) {
	raw := make([]byte, h.l1Size*8) // parseHeader checked it lies in the file
	if err := readFull(f, raw, h.l1Offset); err != nil {
		return nil, err
	}
	c := h.clusterSize()
	l1 := make([]int64, h.l1Size)
	for i := range l1 {
		off := int64(be64(raw[i*8:]) & offsetMask)
		if off == 0 {
			continue
		}
		if _, err := checkTable(c, fileSize, fmt.Sprintf("L2 table %d", i), uint64(off), c); err != nil {
			return nil, err
		}
		l1[i] = off
	}
	return l1, nil
}

func (l *qcow2Layer) info() LayerInfo {
	return LayerInfo{
		Path: l.path, Format: FormatQcow2, Size: l.h.virtualSize,
		ClusterSize: int(l.h.clusterSize()), Version: l.h.version,
		BackingFile: l.h.backingFile, BackingFormat: Format(l.h.backingFormat),
	}
}

func (l *qcow2Layer) virtualSize() int64 { return l.h.virtualSize }

func (l *qcow2Layer) close() error { return l.f.Close() }

// table returns the spans of the L2 table for L1 index i, at host offset off.
func (l *qcow2Layer) table(i int64, off int64) ([]span, error) {
	if r := l.last.Load(); r != nil && r.index == i {
		return r.spans, nil
	}
	key := l2Key{layer: l.id, index: uint32(i)}
	if v, ok := l.cache.get(key); ok {
		l.remember(i, v.([]span))
		return v.([]span), nil
	}
	buf, _ := l.rawL2.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, l.h.clusterSize())
		buf = &b
	}
	defer l.rawL2.Put(buf)
	if err := readFull(l.f, *buf, off); err != nil {
		return nil, err
	}
	spans, err := l.decoder.decode(*buf)
	if err != nil {
		return nil, fmt.Errorf("L2 table %d at %#x: %w", i, off, err)
	}
	l.cache.put(key, spans, int64(len(spans))*spanBytes)
	l.remember(i, spans)
	return spans, nil
}

func (l *qcow2Layer) remember(i int64, spans []span) {
	if len(spans) <= maxRecentSpans {
		l.last.Store(&recentTable{index: i, spans: spans})
	}
}

func (l *qcow2Layer) mapRange(off, n int64, _ bool, fn func(segment) error) error {
	bits := l.h.clusterBits
	tableBytes := int64(1) << (2*bits - 3) // guest bytes mapped by one L2 table
	for end := off + n; off < end; {
		i := off / tableBytes
		base := i * tableBytes
		stop := min(end, base+tableBytes)
		if i >= int64(len(l.l1)) || l.l1[i] == 0 {
			if err := fn(segment{off: off, length: stop - off}); err != nil {
				return err
			}
			off = stop
			continue
		}
		spans, err := l.table(i, l.l1[i])
		if err != nil {
			return err
		}
		idx := uint32((off - base) >> bits)
		k := sort.Search(len(spans), func(k int) bool { return spans[k].first+spans[k].count > idx })
		for off < stop {
			var seg segment
			if k == len(spans) || base+int64(spans[k].first)<<bits > off {
				next := stop
				if k < len(spans) {
					next = min(stop, base+int64(spans[k].first)<<bits)
				}
				seg = segment{off: off, length: next - off}
			} else {
				s := spans[k]
				start := base + int64(s.first)<<bits
				next := min(stop, start+int64(s.count)<<bits)
				seg = segment{off: off, length: next - off, kind: s.kind, host: s.host, csize: int64(s.csize)}
				if s.kind == clusterData {
					seg.host += off - start
				}
				k++
			}
			if err := fn(seg); err != nil {
				return err
			}
			off += seg.length
		}
	}
	return nil
}

func (l *qcow2Layer) read(p []byte, s segment, off int64) error {
	if s.kind == clusterData {
		return readHost(l.f, p, s.host+(off-s.off))
	}
	data, err := l.inflate.cluster(l.f, l.fileSize, s.host, s.csize)
	if err != nil {
		return err
	}
	within := off & (l.h.clusterSize() - 1)
	copy(p, data[within:])
	return nil
}
