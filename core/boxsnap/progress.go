package boxsnap

// progressStep is how many bytes pass between two progress reports, so that
// a callback is cheap even when data moves in small pieces.
const progressStep = 4 << 20

// progress counts bytes and reports them to an optional callback.
type progress struct {
	report   func(done, total int64)
	total    int64
	done     int64
	reported int64
}

func (p *progress) add(n int) {
	p.done += int64(n)
	if p.report != nil && p.done-p.reported >= progressStep {
		p.flush()
	}
}

// flush reports the current count if it changed since the last report.
func (p *progress) flush() {
	if p.report != nil && p.done != p.reported {
		p.reported = p.done
		p.report(p.done, p.total)
	}
}
