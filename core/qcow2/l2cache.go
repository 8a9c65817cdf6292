package qcow2

import (
	"container/list"
	"sync"
)

// DefaultCacheBytes is the L2 cache budget of an Image when
// OpenOptions.CacheBytes is zero. Tables are cached as spans, so this covers
// far more than its size in raw tables for all but fragmented images.
const DefaultCacheBytes = 8 << 20

// l2Key names one L2 table of one layer of a chain.
type l2Key struct {
	layer int32
	index uint32 // L1 index
}

type l2CacheEntry struct {
	key   l2Key
	value any // []span, or []layerSegment for a chain-map region
	cost  int64
}

// l2Cache is a least-recently-used cache of decoded L2 tables (and of
// chain-map regions) shared by all layers of an Image, bounded in bytes.
// The slices it hands out are never modified, so callers use them without
// holding the lock.
type l2Cache struct {
	mu      sync.Mutex
	budget  int64
	used    int64
	entries map[l2Key]*list.Element
	order   list.List // front = most recently used
}

func newL2Cache(budget int64) *l2Cache {
	return &l2Cache{budget: budget, entries: map[l2Key]*list.Element{}}
}

func (c *l2Cache) get(k l2Key) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*l2CacheEntry).value, true
}

// put caches value, which takes size bytes.
func (c *l2Cache) put(k l2Key, value any, size int64) {
	cost := size + 64 // the entry and map overhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return // loaded concurrently by another reader
	}
	c.entries[k] = c.order.PushFront(&l2CacheEntry{key: k, value: value, cost: cost})
	c.used += cost
	for c.used > c.budget && c.order.Len() > 1 {
		oldest := c.order.Back()
		e := oldest.Value.(*l2CacheEntry)
		c.order.Remove(oldest)
		delete(c.entries, e.key)
		c.used -= e.cost
	}
}
