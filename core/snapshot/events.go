package snapshot

import "sync"

// EventKind says what changed.
type EventKind string

const (
	BoxesChanged     EventKind = "boxes"     // a box was created, removed or renamed
	BoxChanged       EventKind = "box"       // a box's state, settings or disks changed
	SnapshotsChanged EventKind = "snapshots" // a box's snapshots changed
	Refresh          EventKind = "refresh"   // something changed outside this process
)

// Event tells subscribers (the filesystem's caches) what changed.
type Event struct {
	Kind  EventKind
	BoxID string
}

// broker fans events out to subscribers without ever blocking the engine.
type broker struct {
	mu     sync.Mutex
	subs   map[chan Event]bool
	closed bool
}

func newBroker() *broker { return &broker{subs: map[chan Event]bool{}} }

// Subscribe returns a channel of events and a function that ends the subscription.
func (rt *Runtime) Subscribe() (<-chan Event, func()) {
	b := rt.events
	ch := make(chan Event, 256)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	b.subs[ch] = true
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.subs[ch] {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

func (b *broker) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // a subscriber this far behind rereads everything anyway
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		close(ch)
	}
	b.subs = map[chan Event]bool{}
	b.closed = true
}

func (rt *Runtime) publish(kind EventKind, boxID string) {
	rt.events.publish(Event{Kind: kind, BoxID: boxID})
}
