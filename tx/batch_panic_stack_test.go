package tx_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// putThenPanic writes k and panics with v: the frame a panicking Batch
// function's caller must find in its stack.
func putThenPanic(txn *folio.Tx, k string, v any) error {
	if err := put(k)(txn); err != nil {
		return err
	}
	panic(v)
}

// openBatchMode is openGoexit's DB, in WAL mode if wal.
func openBatchMode(t *testing.T, wal bool) *goexitDB {
	t.Helper()
	if !wal {
		return openGoexit(t)
	}
	d, err := folio.Open(filepath.Join(t.TempDir(), "db"), 0o600, &folio.Options{PageSize: 1024, NoSync: true, WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	g := &goexitDB{DB: d, t: t}
	t.Cleanup(func() {
		if !g.hung {
			if err := d.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	if err := d.Update(func(tx *folio.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestBatchPanicStackHasFunctionFrames: three Batch calls share one
// batch, and one function (the leader's own, or another caller's)
// panics through putThenPanic. Its caller must recover the very value,
// with a stack that goes through putThenPanic: a panic re-raised from
// the value alone points at batch code, and a crash's trace would not
// show where the function failed. The other two calls' writes commit.
func TestBatchPanicStackHasFunctionFrames(t *testing.T) {
	for _, wal := range []bool{false, true} {
		for _, who := range []int{0, 1} { // 0 leads the batch
			t.Run(fmt.Sprintf("wal=%v/call%d", wal, who), func(t *testing.T) {
				db := openBatchMode(t, wal)
				v := &struct{ call int }{who}
				type result struct {
					err      error
					panicked any
					stack    string
				}
				var outs []chan result
				db.within("Batch whose function panics", func() {
					holding, release := make(chan struct{}), make(chan struct{})
					writer := spawn(func() error {
						return db.Update(func(tx *folio.Tx) error { close(holding); <-release; return nil })
					})
					<-holding
					for i := 0; i < 3; i++ {
						k := fmt.Sprintf("b%d", i)
						fn := put(k)
						if i == who {
							fn = func(txn *folio.Tx) error { return putThenPanic(txn, k, v) }
						}
						ch := make(chan result, 1)
						outs = append(outs, ch)
						go func() {
							var r result
							defer func() {
								if r.panicked = recover(); r.panicked != nil {
									r.stack = string(debug.Stack())
								}
								ch <- r
							}()
							r.err = db.Batch(fn)
						}()
						db.until("Batch call queued", func() bool { return tx.BatchQueued(db.DB) == i+1 })
						if i == 0 {
							db.until("Batch call leads", func() bool { return tx.BatchLed(db.DB) })
						}
					}
					close(release)
					<-writer
					for i, ch := range outs {
						r := <-ch
						switch {
						case i != who && (r.err != nil || r.panicked != nil):
							t.Errorf("call %d: returned %v, panicked %v; want nil", i, r.err, r.panicked)
						case i == who && r.panicked != v:
							t.Errorf("call %d: returned %v, panicked %v; want its function's panic %p", i, r.err, r.panicked, v)
						case i == who && !strings.Contains(r.stack, "putThenPanic"):
							t.Errorf("call %d: the stack its caller recovered on has no putThenPanic frame:\n%s", i, r.stack)
						}
					}
				})
				want := map[int]string{0: "b1,b2", 1: "b0,b2"}[who]
				if got := db.keys(); got != want {
					t.Errorf("keys %q, want %q", got, want)
				}
			})
		}
	}
}

// TestBatchPanicRerunResultStands: a Batch function that panics in the
// batch is run again alone; one that does not panic then (it is not
// deterministic) has that run's result: nil and its write committed, or
// its error.
func TestBatchPanicRerunResultStands(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			db := openBatchMode(t, wal)
			var runs atomic.Int32
			db.within("Batch whose function panics once", func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("Batch panicked %v; the second run did not", r)
					}
				}()
				err := db.Batch(func(txn *folio.Tx) error {
					if runs.Add(1) == 1 {
						return putThenPanic(txn, "once", "first run")
					}
					return put("once")(txn)
				})
				if err != nil || runs.Load() != 2 {
					t.Errorf("Batch returned %v after %d runs; want nil after 2", err, runs.Load())
				}
				errSecond := errors.New("second run")
				runs.Store(0)
				err = db.Batch(func(txn *folio.Tx) error {
					if runs.Add(1) == 1 {
						return putThenPanic(txn, "twice", "first run")
					}
					return errSecond
				})
				if !errors.Is(err, errSecond) || runs.Load() != 2 {
					t.Errorf("Batch returned %v after %d runs; want the second run's error after 2", err, runs.Load())
				}
			})
			if got := db.keys(); got != "once" {
				t.Errorf("keys %q, want once", got)
			}
		})
	}
}

// TestBatchHandlerPanicNotRerun: a commit handler's panic comes after
// its function's write committed, so the function is not run again (it
// would write twice); only the value reaches the caller.
func TestBatchHandlerPanicNotRerun(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			db := openBatchMode(t, wal)
			var runs atomic.Int32
			var r any
			db.within("Batch whose handler panics", func() {
				defer func() { r = recover() }()
				_ = db.Batch(func(txn *folio.Tx) error {
					runs.Add(1)
					txn.OnCommit(func() { panic("handler") })
					return put("h")(txn)
				})
			})
			if r != "handler" || runs.Load() != 1 {
				t.Errorf("recovered %v after %d runs; want the handler's panic after 1", r, runs.Load())
			}
			if got := db.keys(); got != "h" {
				t.Errorf("keys %q, want h", got)
			}
		})
	}
}

// TestBatchPanicRerunAfterClose: a function that panicked in a batch
// whose solo run cannot begin (Close has begun) still panics in its
// caller, with its value: the panic is not turned into
// ErrDatabaseNotOpen.
func TestBatchPanicRerunAfterClose(t *testing.T) {
	db := openGoexit(t)
	if err := db.DB.Close(); err != nil {
		t.Fatal(err)
	}
	ran := false
	var r any
	func() {
		defer func() { r = recover() }()
		_ = tx.RerunPanicked(db.DB, func(*folio.Tx) error { ran = true; return nil }, "first run")
	}()
	if r != "first run" || ran {
		t.Errorf("recovered %v, function ran %v; want the first run's panic and no run", r, ran)
	}
}
