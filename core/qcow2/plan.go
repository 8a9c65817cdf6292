package qcow2

import (
	"context"
	"sort"
)

// run is a stretch of guest clusters of the output image that are all data
// or all zero. Unallocated clusters have no run.
type run struct {
	first, count int64 // guest cluster index, number of clusters
	kind         ExtentKind
	// ordinal is, for data, the index of the run's first cluster among the
	// output's data clusters, which are stored in guest order.
	ordinal int64
}

// tableRun is a stretch of consecutive L1 indices that each have an L2 table;
// the tables are stored in L1 order.
type tableRun struct {
	first, count, ordinal int64
}

// planner turns the allocation map of a source into runs, one output
// cluster at a time. A cluster that the map splits between kinds takes the
// kind that keeps its content: data if any part is data, zero if the rest
// reads as zero; in a diff (which keeps unallocated ranges so they show the
// backing file), a cluster mixing unallocated with anything else is data.
type planner struct {
	bits uint
	diff bool

	runs      []run
	dataCount int64

	// The cluster that extents cover only partly so far.
	partial      int64
	partialKinds [3]bool // indexed by ExtentKind
	hasPartial   bool
}

func (p *planner) add(e Extent) {
	c := int64(1) << p.bits
	for off, end := e.Offset, e.Offset+e.Length; off < end; {
		idx := off >> p.bits
		if off == idx<<p.bits && end-off >= c {
			p.flush()
			n := (end - off) >> p.bits
			p.emit(idx, n, e.Kind)
			off += n << p.bits
			continue
		}
		if p.hasPartial && p.partial != idx {
			p.flush()
		}
		p.partial, p.hasPartial = idx, true
		p.partialKinds[e.Kind] = true
		off = min(end, (idx+1)<<p.bits)
		if off == (idx+1)<<p.bits {
			p.flush()
		}
	}
}

// flush decides the kind of the partly covered cluster.
func (p *planner) flush() {
	if !p.hasPartial {
		return
	}
	k := p.partialKinds
	kind := Unallocated
	switch {
	case p.diff && k[Unallocated] && (k[Zero] || k[Data]):
		kind = Data
	case k[Data]:
		kind = Data
	case k[Zero]:
		kind = Zero
	}
	p.emit(p.partial, 1, kind)
	p.hasPartial, p.partialKinds = false, [3]bool{}
}

func (p *planner) emit(first, count int64, kind ExtentKind) {
	if kind == Unallocated {
		return
	}
	if n := len(p.runs); n > 0 {
		last := &p.runs[n-1]
		if last.kind == kind && last.first+last.count == first {
			last.count += count
			if kind == Data {
				p.dataCount += count
			}
			return
		}
	}
	r := run{first: first, count: count, kind: kind}
	if kind == Data {
		r.ordinal = p.dataCount
		p.dataCount += count
	}
	p.runs = append(p.runs, r)
}

// planRuns reads the allocation map of src and returns the runs of the
// output, with clusters of 1<<bits bytes.
func planRuns(ctx context.Context, src Source, bits uint, diff bool) ([]run, int64, error) {
	p := &planner{bits: bits, diff: diff}
	next := int64(0)
	err := src.Extents(ctx, 0, src.Size(), func(e Extent) error {
		if e.Offset != next || e.Length <= 0 || e.Kind > Data {
			return errInvalid("source extent %+v does not follow offset %d", e, next)
		}
		next = e.Offset + e.Length
		p.add(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if next != src.Size() {
		return nil, 0, errInvalid("source extents end at %d, size is %d", next, src.Size())
	}
	p.flush()
	return p.runs, p.dataCount, nil
}

// planTables lists the L1 indices whose L2 table the runs need.
func planTables(runs []run, entriesPerTable int64) ([]tableRun, int64) {
	var tables []tableRun
	total := int64(0)
	for _, r := range runs {
		first, last := r.first/entriesPerTable, (r.first+r.count-1)/entriesPerTable
		if n := len(tables); n > 0 {
			t := &tables[n-1]
			end := t.first + t.count
			if first < end {
				first = end // this run starts in a table already listed
			}
			if first == end && first <= last {
				t.count += last - first + 1
				total += last - first + 1
				continue
			}
		}
		if first <= last {
			tables = append(tables, tableRun{first: first, count: last - first + 1, ordinal: total})
			total += last - first + 1
		}
	}
	return tables, total
}

// runAt returns the index of the first run that ends after guest cluster g.
func runAt(runs []run, g int64) int {
	return sort.Search(len(runs), func(i int) bool { return runs[i].first+runs[i].count > g })
}
