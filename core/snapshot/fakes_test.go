package snapshot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// fakeRunner is a stand-in VM for the state-rule tests ONLY: the rules of
// SPEC 2.6 need a box in the running state, and this records what the engine
// asks of it. The real VM (QEMU, the guest agent, freeze and thaw, switching
// disks) is tested in core/runner.
type fakeRunner struct {
	mu        sync.Mutex
	calls     []string
	freezeErr error // what Freeze returns
	// When set, the next Freeze closes frozen and waits for thaw: a guest
	// that takes its time to quiesce.
	frozen, thaw chan struct{}
}

// holdFreeze makes the next Freeze wait; it returns a channel closed when
// that Freeze begins and a function that lets it return.
func (r *fakeRunner) holdFreeze() (began <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frozen, r.thaw = make(chan struct{}), make(chan struct{})
	thaw := r.thaw
	return r.frozen, func() { close(thaw) }
}

func (r *fakeRunner) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// takeCalls returns the calls recorded since the last takeCalls, joined.
func (r *fakeRunner) takeCalls() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.calls, ",")
	r.calls = nil
	return s
}

func (r *fakeRunner) setFreezeErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.freezeErr = err
}

func (r *fakeRunner) Start(ctx context.Context, spec RunSpec) (Instance, error) {
	r.record("start")
	return &fakeVM{r: r, done: make(chan struct{})}, nil
}

type fakeVM struct {
	r    *fakeRunner
	done chan struct{}
	once sync.Once
}

func (vm *fakeVM) Stop(ctx context.Context) error {
	vm.r.record("stop")
	vm.once.Do(func() { close(vm.done) })
	return nil
}

func (vm *fakeVM) Freeze(ctx context.Context) error {
	vm.r.record("freeze")
	vm.r.mu.Lock()
	frozen, thaw, err := vm.r.frozen, vm.r.thaw, vm.r.freezeErr
	vm.r.frozen, vm.r.thaw = nil, nil
	vm.r.mu.Unlock()
	if frozen != nil {
		close(frozen)
		<-thaw
	}
	return err
}

func (vm *fakeVM) Thaw(ctx context.Context) error {
	vm.r.record("thaw")
	return nil
}

func (vm *fakeVM) SwitchDisks(ctx context.Context, guest, container string) error {
	vm.r.record("switch")
	return nil
}

func (vm *fakeVM) Done() <-chan struct{} { return vm.done }

// gate holds a mutation at one of its steps (Options.FailPoint) so that a
// test can act while the mutation is in flight.
type gate struct {
	mu      sync.Mutex
	step    string
	reached chan struct{}
	release chan struct{}
}

// arm makes the next mutation that reaches step wait there until open.
func (g *gate) arm(step string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.step, g.reached, g.release = step, make(chan struct{}), make(chan struct{})
}

func (g *gate) failPoint(step string) {
	g.mu.Lock()
	if g.step == "" || step != g.step {
		g.mu.Unlock()
		return
	}
	g.step = ""
	reached, release := g.reached, g.release
	g.mu.Unlock()
	close(reached)
	<-release
}

// hold runs fn in the background with the gate armed at step, waits until
// fn reaches it, and returns a function that opens the gate and returns
// fn's error.
func (g *gate) hold(t *testing.T, step string, fn func() error) (finish func() error) {
	t.Helper()
	g.arm(step)
	g.mu.Lock()
	reached, release := g.reached, g.release
	g.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("the mutation ended (%v) before reaching step %q", err, step)
	}
	return func() error {
		close(release)
		return <-done
	}
}
