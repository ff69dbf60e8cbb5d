package folio

import (
	"errors"
	"testing"
	"time"
)

// TestZeroDBRefusesAll: a DB that Open did not make (new(DB), or a DB
// field left zero) is not open: every method returns ErrDatabaseNotOpen,
// or a zero value, as a closed DB's do (bbolt's return its
// ErrDatabaseNotOpen too). Batch waited forever for a leader's token the
// zero DB has no channel for.
func TestZeroDBRefusesAll(t *testing.T) {
	db := new(DB)
	calls := map[string]func() error{
		"Begin(false)": func() error { _, err := db.Begin(false); return err },
		"Begin(true)":  func() error { _, err := db.Begin(true); return err },
		"View":         func() error { return db.View(func(*Tx) error { return nil }) },
		"Update":       func() error { return db.Update(func(*Tx) error { return nil }) },
		"Batch":        func() error { return db.Batch(func(*Tx) error { return nil }) },
		"Sync":         db.Sync,
		"Checkpoint":   db.Checkpoint,
		"Info":         func() error { _, err := db.Info(); return err },
	}
	for name, call := range calls {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrDatabaseNotOpen) {
				t.Errorf("%s on a zero DB: %v, want ErrDatabaseNotOpen", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s on a zero DB: no return after 10 s", name)
		}
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close on a zero DB: %v", err)
	}
	_ = db.Stats()
}
