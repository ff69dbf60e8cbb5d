package tx_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// TestBatchOnCommitGoexitOthersHandlersRun: in a batch of three calls,
// the first call's commit handler (or the first two's) calls Goexit,
// ending the goroutine that leads the batch. The other calls' writes
// committed and their callers get nil, so their handlers must run too:
// they ran in the same loop after the first, and were skipped (their
// callers got nil for a commit whose OnCommit work never happened). A
// panic in a handler was already kept to its own call.
func TestBatchOnCommitGoexitOthersHandlersRun(t *testing.T) {
	for _, exits := range []int{1, 2} {
		t.Run(fmt.Sprintf("exits=%d", exits), func(t *testing.T) { batchHandlersAfterGoexit(t, exits) })
	}
}

func batchHandlersAfterGoexit(t *testing.T, exits int) {
	db := openGoexit(t)
	var ran [3]atomic.Bool
	db.within("Batch whose first commit handler calls Goexit", func() {
		holding, release := make(chan struct{}), make(chan struct{})
		writer := spawn(func() error {
			return db.Update(func(tx *folio.Tx) error { close(holding); <-release; return nil })
		})
		<-holding
		var outs []<-chan outcome
		for i := 0; i < 3; i++ {
			fn := func(tx *folio.Tx) error {
				tx.OnCommit(func() { ran[i].Store(true) })
				if i < exits {
					tx.OnCommit(runtime.Goexit)
				}
				tx.OnCommit(func() {}) // one more after it, of the same call
				return put(fmt.Sprintf("b%d", i))(tx)
			}
			outs = append(outs, spawn(func() error { return db.Batch(fn) }))
			db.until("Batch call queued", func() bool { return tx.BatchQueued(db.DB) == i+1 })
			if i == 0 {
				db.until("Batch call leads", func() bool { return tx.BatchLed(db.DB) })
			}
		}
		close(release)
		<-writer
		for i, ch := range outs {
			o := <-ch
			if i > 0 && (!o.returned || o.err != nil) {
				t.Errorf("call %d: %+v, want nil", i, o)
			}
		}
	})
	for i := range ran {
		if !ran[i].Load() {
			t.Errorf("call %d: its commit handler did not run, though its Batch returned nil", i)
		}
	}
	if got := db.keys(); got != "b0,b1,b2" {
		t.Errorf("keys %q, want b0,b1,b2", got)
	}
}

// TestBatchOnCommitPanicBesideGoexit: in one batch, the leader's commit
// handler calls Goexit and another call's handler panics. The panic is
// that call's, as it is without the Goexit: its Batch must pass it on,
// not return nil (the leader's exit handed every caller of the committed
// batch nil, and the panic was lost).
func TestBatchOnCommitPanicBesideGoexit(t *testing.T) {
	db := openGoexit(t)
	type result struct {
		err      error
		panicked any
	}
	var outs []chan result
	db.within("Batch whose handlers exit and panic", func() {
		holding, release := make(chan struct{}), make(chan struct{})
		writer := spawn(func() error {
			return db.Update(func(tx *folio.Tx) error { close(holding); <-release; return nil })
		})
		<-holding
		for i := 0; i < 3; i++ {
			fn := func(tx *folio.Tx) error {
				switch i {
				case 0:
					tx.OnCommit(runtime.Goexit)
				case 1:
					tx.OnCommit(func() { panic("handler of call 1") })
				}
				return put(fmt.Sprintf("b%d", i))(tx)
			}
			ch := make(chan result, 1)
			outs = append(outs, ch)
			go func() {
				var r result
				defer func() {
					r.panicked = recover()
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
		if r := <-outs[1]; r.panicked != "handler of call 1" {
			t.Errorf("call 1: returned %v, panicked %v; want its handler's panic", r.err, r.panicked)
		}
		if r := <-outs[2]; r.err != nil || r.panicked != nil {
			t.Errorf("call 2: returned %v, panicked %v; want nil", r.err, r.panicked)
		}
	})
	if got := db.keys(); got != "b0,b1,b2" {
		t.Errorf("keys %q, want b0,b1,b2", got)
	}
}
