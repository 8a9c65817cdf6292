package qcow2

import "sort"

// The chain map: for reads, the segments a chain resolves a region of the
// disk to are cached per region of 1<<regionBits bytes, in the L2 cache's
// budget. Without it every read asks every layer in turn, which in a chain
// of a hundred small overlays costs more than copying the data; with it a
// read of a cached region is one search, whatever the depth.
const regionBits = 24 // 16 MiB

// layerSegment is a segment and the layer that decides it.
type layerSegment struct {
	segment
	layer int32 // -1 when no layer does
}

// layerSegmentBytes is what the cache charges for one.
const layerSegmentBytes = 48

// regionKey names a region in the shared cache; no layer has this id.
func regionKey(region int64) l2Key { return l2Key{layer: -1, index: uint32(region)} }

// mapped calls fn with the segments covering [off, off+n) and their
// layers, as resolve does, through the chain map when the chain has more
// than one layer.
func (img *Image) mapped(off, n int64, fn func(segment, int) error) error {
	if len(img.layers) == 1 || img.size>>regionBits >= 1<<32 {
		return img.resolve(0, off, n, false, fn)
	}
	for end := off + n; off < end; {
		region := off >> regionBits
		segs, err := img.region(region)
		if err != nil {
			return err
		}
		stop := min(end, (region+1)<<regionBits)
		k := sort.Search(len(segs), func(k int) bool { return segs[k].off+segs[k].length > off })
		for ; k < len(segs) && segs[k].off < stop; k++ {
			s := segs[k].segment
			if s.off < off { // clip the start; data moves its host offset along
				if s.kind == clusterData {
					s.host += off - s.off
				}
				s.length -= off - s.off
				s.off = off
			}
			s.length = min(s.length, stop-s.off)
			if err := fn(s, int(segs[k].layer)); err != nil {
				return err
			}
		}
		off = stop
	}
	return nil
}

// region returns the resolved segments of a region, from the cache or by
// asking the layers.
func (img *Image) region(region int64) ([]layerSegment, error) {
	key := regionKey(region)
	if v, ok := img.cache.get(key); ok {
		return v.([]layerSegment), nil
	}
	start := region << regionBits
	var segs []layerSegment
	err := img.resolve(0, start, min(1<<regionBits, img.size-start), false, func(s segment, li int) error {
		segs = append(segs, layerSegment{segment: s, layer: int32(li)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	img.cache.put(key, segs, int64(len(segs))*layerSegmentBytes)
	return segs, nil
}
