package metadata

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Concurrent Updates share commits; one that fails is undone alone.
func TestConcurrentUpdatesCommitTogetherAndFailAlone(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			errs[i] = db.Update(ctx, func(tx *Tx) error {
				if err := tx.InsertBox(ctx, Box{ID: fmt.Sprint("b", i), Name: fmt.Sprint("n", i),
					CreatedAt: time.Now(), Config: []byte("{}"), Status: "stopped", State: []byte("{}")}); err != nil {
					return err
				}
				if i%7 == 0 {
					return boom // after writing: its row must go
				}
				return nil
			})
		})
	}
	wg.Wait()
	var boxes []Box
	if err := db.View(ctx, func(tx *Tx) error {
		var err error
		boxes, err = tx.Boxes(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, err := range errs {
		switch {
		case i%7 == 0 && !errors.Is(err, boom):
			t.Errorf("update %d: %v, want boom", i, err)
		case i%7 != 0 && err != nil:
			t.Errorf("update %d: %v", i, err)
		}
		if i%7 != 0 {
			want++
		}
	}
	if len(boxes) != want {
		t.Errorf("%d boxes, want %d", len(boxes), want)
	}
	db.Close()
	if err := db.Update(ctx, func(*Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("update after close: %v", err)
	}
}
