package nodes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// cloneCopy is a copy into clones/NAME in progress (SPEC 2.4): the engine's
// clone target, and what tells when the copy is over.
//
// No copy tool says that it is done, so a copy that had nothing created,
// written, renamed or open for settle is over once it made its box: the
// engine forgets the target, which releases the name, and clones/NAME
// becomes the box's own directory. Disks copied without a box.json (which
// names the box they come from) make their box then. Until then clones/NAME
// shows only what the copy made, since tools create each file with O_EXCL,
// which fails on any name that is already there. A reservation that made no
// box yet waits for its copy however long it takes.
type cloneCopy struct {
	life    context.Context               // the mount's: settling outlives requests
	seq     uint64                        // numbers the inodes of the copy's paths
	created time.Time                     // the time of the copy's directories
	settle  time.Duration                 // idle time after which a copy is over
	onOver  func(c *cloneCopy, err error) // runs once the copy settled by itself; err: why it made no box

	mu    sync.Mutex
	ct    *snapshot.CloneTarget
	busy  int // steps of the copy in progress and open files
	timer *time.Timer
	over  error // why nothing more can be copied in: the copy ended
}

func newCloneCopy(life context.Context, ct *snapshot.CloneTarget, seq uint64, settle time.Duration, onOver func(*cloneCopy, error)) *cloneCopy {
	return &cloneCopy{life: life, ct: ct, seq: seq, created: time.Now(), settle: settle, onOver: onOver}
}

// target is the engine's clone target.
func (c *cloneCopy) target() *snapshot.CloneTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ct
}

// name is the name under clones/ the copy fills.
func (c *cloneCopy) name() string { return c.target().Name() }

// ino numbers the path rel of the copy ("" for clones/NAME itself).
func (c *cloneCopy) ino(rel string) uint64 {
	return inoOf(fmt.Sprintf("clone-copy/%d/%s", c.seq, rel))
}

// begin marks a step of the copy or an open file of it, which keeps it from
// settling until end. Once the copy ended it says why (its tree still
// answers lookups, but nothing more can be copied into it).
func (c *cloneCopy) begin() (over error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over != nil {
		return c.over
	}
	c.busy++
	if c.timer != nil {
		c.timer.Stop()
	}
	return nil
}

// end is the end of what begin marked; when nothing is left the copy
// settles after its idle time.
func (c *cloneCopy) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over != nil {
		return
	}
	if c.busy--; c.busy > 0 {
		return
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(c.settle, c.expire)
	} else {
		c.timer.Reset(c.settle)
	}
}

// expire settles an idle copy: disks it holds for a box.json that never
// came make its box, and a copy with its box is over.
func (c *cloneCopy) expire() {
	ct, idle := c.idle()
	if !idle {
		return
	}
	// Storing held disks takes a while: steps of the copy that come
	// meanwhile wait for the engine, and keep the copy going.
	err := ct.Settle(c.life)
	c.mu.Lock()
	switch {
	case c.over != nil, c.ct != ct:
		c.mu.Unlock()
		return
	case err != nil:
		c.over = fmt.Errorf("the copy into clones/%s failed: %w", ct.Name(), err)
	case c.busy > 0 || ct.Box() == nil:
		c.mu.Unlock()
		return
	default:
		c.over = c.settled()
	}
	c.mu.Unlock()
	ct.Close()
	c.onOver(c, err)
}

// idle gives the target of a copy that is not over and has nothing in
// progress.
func (c *cloneCopy) idle() (*snapshot.CloneTarget, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ct, c.over == nil && c.busy == 0
}

// finish ends the copy now (unmount, a rename, a box renamed or removed
// elsewhere, a copy the engine refused): the engine forgets the target and
// releases its name.
func (c *cloneCopy) finish() {
	if ct := c.markOver(nil); ct != nil {
		ct.Close()
	}
}

// removed records that the target was removed (rmdir clones/NAME).
func (c *cloneCopy) removed() {
	c.markOver(fmt.Errorf("clones/%s was removed: %w", c.name(), errdefs.ErrNotFound))
}

// markOver ends the copy for why (nil: as its target says) and gives its
// target; nil if the copy had ended already.
func (c *cloneCopy) markOver(why error) *snapshot.CloneTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over != nil {
		return nil
	}
	if why == nil {
		why = c.settled()
		if c.ct.Box() == nil {
			why = fmt.Errorf("the copy into clones/%s was refused, as it is not of a box: %w", c.ct.Name(), errdefs.ErrInvalid)
		}
	}
	c.over = why
	if c.timer != nil {
		c.timer.Stop()
	}
	return c.ct
}

// settled is why nothing more can be copied into a copy that made its box.
func (c *cloneCopy) settled() error {
	return fmt.Errorf("the copy into clones/%s is over: it is the box's directory now: %w", c.ct.Name(), errdefs.ErrNotFound)
}

// rebind moves an unbound reservation to the target of its new name (mv
// clones/a clones/b) and forgets the old one. The nodes of the copy keep
// working, since they reach the target through c.
func (c *cloneCopy) rebind(ct *snapshot.CloneTarget) {
	c.mu.Lock()
	old := c.ct
	c.ct = ct
	c.mu.Unlock()
	old.Close()
}

// isOver says whether the copy ended.
func (c *cloneCopy) isOver() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over != nil
}
