package ops

import (
	"context"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// newRuntime opens the engine on a new home, closed when the test ends.
func newRuntime(t *testing.T) *snapshot.Runtime {
	t.Helper()
	rt, err := snapshot.Open(context.Background(), t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}
