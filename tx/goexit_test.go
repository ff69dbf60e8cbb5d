package tx_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// These tests end a View, Update or Batch function with runtime.Goexit,
// as t.FailNow does: the goroutine ends, and the transaction must let go
// of the write lock (or its snapshot) on the way, so that nothing else
// waits forever. A deadlock fails the test after a few seconds, and the
// database is then left open (Close would wait for the stuck writer).

type goexitDB struct {
	*folio.DB
	t    *testing.T
	hung bool
}

func openGoexit(t *testing.T) *goexitDB {
	t.Helper()
	db, err := folio.Open(filepath.Join(t.TempDir(), "db"), 0o600, &folio.Options{PageSize: 1024, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	g := &goexitDB{DB: db, t: t}
	t.Cleanup(func() {
		if !g.hung {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	if err := db.Update(func(tx *folio.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return g
}

// within fails the test if fn has not returned after 5 s.
func (g *goexitDB) within(what string, fn func()) {
	g.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		g.hung = true
		g.t.Fatalf("%s: no return after 60 s (deadlock)", what)
	}
}

// outcome is how a call in its own goroutine ended: it returned err, or
// its goroutine exited (runtime.Goexit) first.
type outcome struct {
	returned bool
	err      error
}

// spawn runs call in a goroutine; the channel gets how it ended.
func spawn(call func() error) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() { ch <- o }()
		o.err = call()
		o.returned = true
	}()
	return ch
}

// keys returns the keys of bucket b.
func (g *goexitDB) keys() string {
	var ks []string
	err := g.View(func(tx *folio.Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error { ks = append(ks, string(k)); return nil })
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return strings.Join(ks, ",")
}

func put(k string) func(*folio.Tx) error {
	return func(tx *folio.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) }
}

// putExit puts k and calls runtime.Goexit before returning.
func putExit(k string) func(*folio.Tx) error {
	return func(tx *folio.Tx) error {
		if err := put(k)(tx); err != nil {
			return err
		}
		runtime.Goexit()
		return nil
	}
}

// until waits for cond, which a goroutine of the test makes true.
func (g *goexitDB) until(what string, cond func() bool) {
	g.t.Helper()
	g.within(what, func() {
		for !cond() {
			runtime.Gosched()
		}
	})
}

func TestUpdateGoexit(t *testing.T) {
	db := openGoexit(t)
	db.within("Update whose function calls Goexit", func() {
		if o := <-spawn(func() error { return db.Update(putExit("a")) }); o.returned {
			t.Errorf("Update returned %v; its goroutine should have exited", o.err)
		}
		if err := db.Update(put("b")); err != nil {
			t.Error(err)
		}
	})
	if got := db.keys(); got != "b" {
		t.Errorf("keys %q, want only b: a function cut short must not commit", got)
	}
}

func TestViewGoexit(t *testing.T) {
	db := openGoexit(t)
	db.within("View whose function calls Goexit", func() {
		<-spawn(func() error {
			return db.View(func(*folio.Tx) error { runtime.Goexit(); return nil })
		})
	})
	if n := db.Stats().OpenTxN; n != 0 {
		t.Errorf("%d read transactions open after the View ended", n)
	}
	db.within("Close after a View exited", func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
}

// TestBatchGoexit queues Batch calls behind a writer, one of whose
// functions calls Goexit, in the goroutine of the caller leading the batch
// (its own or another's). The leader's goroutine ends; the others return,
// nothing of the rolled-back batch is committed, and the database goes
// on. The caller whose function exited in another goroutine gets an
// error; the rest run their functions again alone (Batch's retry).
func TestBatchGoexit(t *testing.T) {
	cases := []struct {
		name   string
		exiter int    // which call's function calls Goexit (call 0 leads)
		keys   string // committed in the end
	}{
		// The leader's function exits in its own goroutine; the others'
		// run again alone.
		{"leader", 0, "b1,b2,w"},
		// Call 1's function exits in the leader's goroutine: the leader
		// never sees its result (its function ran in the rolled-back
		// batch); call 1 gets an error, call 2 runs alone.
		{"other", 1, "b2,w"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openGoexit(t)
			var outs []<-chan outcome
			db.within("Batch whose function calls Goexit", func() {
				holding, release := make(chan struct{}), make(chan struct{})
				writer := spawn(func() error {
					return db.Update(func(tx *folio.Tx) error { close(holding); <-release; return put("w")(tx) })
				})
				<-holding
				for i := 0; i < 3; i++ {
					fn := put(fmt.Sprintf("b%d", i))
					if i == c.exiter {
						fn = putExit(fmt.Sprintf("b%d", i))
					}
					outs = append(outs, spawn(func() error { return db.Batch(fn) }))
					db.until("Batch call queued", func() bool { return tx.BatchQueued(db.DB) == i+1 })
					if i == 0 {
						db.until("Batch call leads", func() bool { return tx.BatchLed(db.DB) })
					}
				}
				close(release)
				if o := <-writer; o.err != nil {
					t.Error(o.err)
				}
				for i, ch := range outs {
					o := <-ch
					switch {
					case i == 0:
						if o.returned {
							t.Errorf("call 0 (the leader) returned %v; its goroutine should have exited", o.err)
						}
					case i == c.exiter:
						// Bare, as README's "Errors are wrapped" says: == finds it.
						if !o.returned || o.err != tx.ErrBatchGoexit {
							t.Errorf("call %d: %+v, want an error saying its function called Goexit", i, o)
						}
					case !o.returned || o.err != nil:
						t.Errorf("call %d: %+v, want nil", i, o)
					}
				}
				if err := db.Update(put("z")); err != nil {
					t.Error(err)
				}
			})
			if got, want := db.keys(), c.keys+",z"; got != want {
				t.Errorf("keys %q, want %q", got, want)
			}
		})
	}
}

// TestBatchOnCommitGoexit: a commit handler of a Batch function calls
// Goexit after the batch committed. The leader's goroutine ends; the other
// callers get nil, their writes committed.
func TestBatchOnCommitGoexit(t *testing.T) {
	db := openGoexit(t)
	db.within("Batch whose commit handler calls Goexit", func() {
		holding, release := make(chan struct{}), make(chan struct{})
		writer := spawn(func() error {
			return db.Update(func(tx *folio.Tx) error { close(holding); <-release; return nil })
		})
		<-holding
		var outs []<-chan outcome
		for i := 0; i < 3; i++ {
			fn := put(fmt.Sprintf("b%d", i))
			if i == 0 {
				fn = func(tx *folio.Tx) error { tx.OnCommit(runtime.Goexit); return put("b0")(tx) }
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
	if got := db.keys(); got != "b0,b1,b2" {
		t.Errorf("keys %q, want b0,b1,b2", got)
	}
}
