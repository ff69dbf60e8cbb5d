package tx_test

import (
	"fmt"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// batchOutcome is how a Batch call in its own goroutine ended: the
// error it returned, or the value it panicked with.
type batchOutcome struct {
	err      error
	panicked any
}

func spawnBatch(call func() error) <-chan batchOutcome {
	ch := make(chan batchOutcome, 1)
	go func() {
		var o batchOutcome
		defer func() {
			o.panicked = recover()
			ch <- o
		}()
		o.err = call()
	}()
	return ch
}

// TestLifecycleBatchOnCommitPanic: three Batch calls share one
// transaction; call 1 (not the leader) registers an OnCommit handler that
// panics. Batch's contract is that a panic reaches the caller whose
// function raised it, and that the other callers get their own result:
// the batch committed, so calls 0 and 2 must return nil, and the panic,
// if it is passed on at all, belongs to call 1.
func TestLifecycleBatchOnCommitPanic(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			db := openGoexit(t)
			if wal {
				// openGoexit's DB is direct; reopen the same file in WAL mode.
				path := db.Path()
				if err := db.DB.Close(); err != nil {
					t.Fatal(err)
				}
				d, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, NoSync: true, WAL: true})
				if err != nil {
					t.Fatal(err)
				}
				db.DB = d
				t.Cleanup(func() {
					if !db.hung {
						_ = d.Close()
					}
				})
			}
			var outs []<-chan batchOutcome
			db.within("Batch whose commit handler panics", func() {
				holding, release := make(chan struct{}), make(chan struct{})
				writer := spawn(func() error {
					return db.Update(func(tx *folio.Tx) error { close(holding); <-release; return nil })
				})
				<-holding
				for i := 0; i < 3; i++ {
					fn := put(fmt.Sprintf("b%d", i))
					if i == 1 {
						fn = func(tx *folio.Tx) error {
							tx.OnCommit(func() { panic("handler of call 1") })
							return put("b1")(tx)
						}
					}
					outs = append(outs, spawnBatch(func() error { return db.Batch(fn) }))
					db.until("Batch call queued", func() bool { return tx.BatchQueued(db.DB) == i+1 })
					if i == 0 {
						db.until("Batch call leads", func() bool { return tx.BatchLed(db.DB) })
					}
				}
				close(release)
				<-writer
				for i, ch := range outs {
					o := <-ch
					switch {
					case i != 1 && (o.err != nil || o.panicked != nil):
						t.Errorf("call %d: returned %v, panicked %v; want nil: its write committed, and the panic is call 1's handler's", i, o.err, o.panicked)
					case i == 1 && o.err != nil:
						t.Errorf("call 1: returned %v", o.err)
					}
				}
			})
			if got := db.keys(); got != "b0,b1,b2" {
				t.Errorf("keys %q, want b0,b1,b2", got)
			}
		})
	}
}
