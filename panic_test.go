package folio

import (
	"testing"
	"time"
)

// TestPanicEndsManagedTx checks that a panic in the function given to
// View or Update ends its transaction on the way out, as bbolt does: the
// read snapshot is released (Close would otherwise wait for it forever)
// and the write lock is freed with the changes rolled back (every later
// write would otherwise block).
func TestPanicEndsManagedTx(t *testing.T) {
	db := openTest(t, nil)
	mustPanic := func(what string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not pass the panic on", what)
			}
		}()
		fn()
	}
	mustPanic("View", func() { _ = db.View(func(*Tx) error { panic("boom") }) })
	if n := db.Stats().OpenTxN; n != 0 {
		t.Errorf("%d read transactions open after a panic in View", n)
	}
	mustPanic("Update", func() {
		_ = db.Update(func(tx *Tx) error {
			if _, err := tx.CreateBucket([]byte("a")); err != nil {
				return err
			}
			panic("boom")
		})
	})
	done := make(chan error, 1)
	go func() {
		done <- db.Update(func(tx *Tx) error {
			if tx.Bucket([]byte("a")) != nil {
				t.Error("the panicking Update's bucket was committed")
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the write lock is still held after a panic in Update")
	}
}
