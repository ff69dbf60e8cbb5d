package tx

import (
	"errors"
	"fmt"
)

// batch is the set of calls waiting for the next batch transaction.
type batch struct {
	calls []*call
}

type call struct {
	fn   func(*Tx) error
	done chan error
	// handlerPanic is what an OnCommit handler fn registered panicked
	// with, once the batch committed (runBatch).
	handlerPanic any
}

// errTrySolo tells a batch caller to run its function alone: it failed
// inside a shared transaction, and only a solo run can say whether the
// failure was its own.
var errTrySolo = errors.New("folio: batch function failed; retry solo")

// panicked carries a panic out of a batch to the caller whose fn raised
// it. If fn itself panicked (rerun), the caller runs fn again alone
// (rerunPanicked). A commit handler's panic (rerun false) came after fn's
// write committed: running fn again would write twice, so only the value
// goes, and the caller's stack shows batch code, not the handler.
type panicked struct {
	v     any
	rerun bool
}

func (p panicked) Error() string { return fmt.Sprintf("folio: panic in batch function: %v", p.v) }

// Batch runs fn in a write transaction shared with other goroutines'
// concurrent Batch calls, so they share one commit and its syncs. It
// returns when that transaction has committed.
//
// Unlike bbolt, folio does not wait MaxBatchDelay for a batch to fill:
// one queued caller at a time leads, and once it holds the write lock
// (in WAL mode: once the log sync in flight is done) it commits
// everything queued so far (at most MaxBatchSize calls); calls that
// arrive meanwhile form the next batch. An idle system commits at once;
// a busy one batches by itself.
//
// fn may run more than once, and must be idempotent: if any function in a
// batch returns an error, the transaction is rolled back, the others are
// retried without it, and the failing one is run again alone, whose error
// Batch returns.
//
// fn runs in the goroutine leading the batch, which may be another
// caller's. If it calls runtime.Goexit (t.FailNow), that goroutine ends,
// the transaction is rolled back and the write lock freed; a caller whose
// fn exited in another goroutine gets ErrBatchGoexit, and the others run
// theirs again alone. bbolt frees the lock too, but leaves the others
// waiting forever. If fn panics, the transaction is rolled back, the
// others are retried without it, and fn is run again alone in its
// caller's goroutine, as bbolt does: the panic it raises there unwinds
// through fn's own frames. If that run does not panic (fn is not
// deterministic), its result is Batch's. If it cannot begin (Close has
// begun, a sync failed), the first panic's value is raised instead. A
// nil fn runs alone at once, as Update(nil) does: it panics without
// cutting a batch short. A commit handler fn registered (OnCommit) runs
// in the leader's goroutine, after the commit: its panic reaches fn's
// caller as a value only (fn is not run again: its write committed), and
// its Goexit ends the goroutine once the other calls' handlers have run.
//
// Batch returns fn's error, or the error Update would: ErrDatabaseNotOpen
// once Close has begun, ErrDatabaseReadOnly on a read-only DB,
// ErrSyncFailed after a failed sync, or Commit's.
//
// Batch, Update, Begin(true), Checkpoint and Close called inside fn wait
// forever, as in bbolt: fn runs in the write transaction they wait for.
// View may be called there (it reads the last commit, not fn's changes).
func (db *DB) Batch(fn func(*Tx) error) error {
	// NB: a DB that Open did not make (new(DB)) has no leader's token:
	// the send below waited forever (TestZeroDBRefusesAll).
	if db == nil || db.batchLead == nil {
		return db.notOpen()
	}
	if fn == nil {
		// It would panic in the batch, roll it back and be run again
		// alone (rerunPanicked): only the last step is of use.
		return db.Update(fn)
	}
	c := &call{fn: fn, done: make(chan error, 1)}
	db.batchMu.Lock()
	if db.batch == nil {
		db.batch = &batch{}
	}
	db.batch.calls = append(db.batch.calls, c)
	db.batchMu.Unlock()

	for {
		// Wait for the result or to lead: only the leader queues for the
		// write lock. Were every caller to queue there, each one served
		// would have to take the lock in turn only to find its result,
		// and the next batch would wait behind them all.
		select {
		case err := <-c.done:
			return db.batchResult(fn, err)
		case db.batchLead <- struct{}{}:
		}
		tx, err := db.Begin(true)
		if err != nil {
			<-db.batchLead
			db.failQueued(err)
			continue
		}
		// WAL mode: the previous batch releases the write lock before its
		// log sync. Waiting for that sync lets this batch take everyone
		// who queued meanwhile, one commit for all of them, instead of
		// committing the first one or two alone (Commit's CPU, not the
		// sync, then bounds the rate).
		if db.wal.log != nil {
			db.wal.inflight.Wait()
		}
		// Our call may have committed meanwhile (we took the token while
		// its batch ran): then return rather than lead and wait another
		// commit; a caller still queued takes the token.
		select {
		case err := <-c.done:
			_ = tx.Rollback()
			<-db.batchLead
			return db.batchResult(fn, err)
		default:
		}
		calls := db.takeBatch()
		// The next leader may queue for the write lock now: it gets it as
		// soon as this commit has appended its record.
		<-db.batchLead
		if len(calls) == 0 {
			// An earlier leader took our call; its result is on the way.
			_ = tx.Rollback()
			continue
		}
		db.runBatch(tx, calls)
	}
}

func (db *DB) batchResult(fn func(*Tx) error, err error) error {
	var p panicked
	switch {
	case errors.Is(err, errTrySolo):
		return db.Update(fn)
	case errors.As(err, &p) && p.rerun:
		return db.rerunPanicked(fn, p.v)
	case errors.As(err, &p):
		panic(p.v)
	}
	return err
}

// rerunPanicked runs fn, which panicked with v in a batch, alone in its
// caller's goroutine (a solo Update). Run again, fn panics again, and the
// panic unwinds through fn's frames and then the caller's: debug.Stack in
// a deferred recover, or a crash's trace, shows where fn failed. Raising
// v here would show only batch code. If fn returns instead, it is not
// deterministic and this run's result stands (Batch's functions may run
// more than once). If the run cannot begin (ErrDatabaseNotOpen,
// ErrSyncFailed), v is raised: a panic must not become an error a caller
// takes for a closed DB.
func (db *DB) rerunPanicked(fn func(*Tx) error, v any) error {
	ran := false
	err := db.Update(func(tx *Tx) error {
		ran = true
		return fn(tx)
	})
	if !ran {
		panic(v)
	}
	return err
}

// takeBatch removes up to MaxBatchSize queued calls.
func (db *DB) takeBatch() []*call {
	db.batchMu.Lock()
	defer db.batchMu.Unlock()
	if db.batch == nil {
		return nil
	}
	calls := db.batch.calls
	max := db.MaxBatchSize
	if max <= 0 {
		max = DefaultMaxBatchSize
	}
	if len(calls) > max {
		db.batch.calls = append([]*call(nil), calls[max:]...)
		return calls[:max]
	}
	db.batch = nil
	return calls
}

// failQueued delivers err to every queued call (Begin failed: closed DB).
func (db *DB) failQueued(err error) {
	for _, c := range db.takeBatch() {
		c.done <- err
	}
}

// runBatch runs calls in tx and commits, retrying without a failing call.
// REQUIRES: tx is the write transaction; runBatch ends it.
func (db *DB) runBatch(tx *Tx, calls []*call) {
	running, inFn, returned := -1, false, false
	defer func() {
		if !returned {
			db.batchExited(tx, calls, running, inFn)
		}
	}()
	for {
		failed := -1
		tx.managed = true
		db.enterFn()
		inFn = true
		for i, c := range calls {
			running = i
			from := len(tx.commitHandlers)
			err := runCall(tx, c.fn)
			running = -1
			if err != nil {
				failed = i
				calls[i].done <- err
				break
			}
			// A panic in a handler c.fn registered is c's, as one in c.fn
			// is: it ran in the leader's goroutine, and the others'
			// writes committed.
			for j := from; j < len(tx.commitHandlers); j++ {
				h := tx.commitHandlers[j]
				tx.commitHandlers[j] = func() {
					defer func() {
						if r := recover(); r != nil && c.handlerPanic == nil {
							c.handlerPanic = r
						}
					}()
					h()
				}
			}
		}
		inFn = false
		db.leaveFn()
		tx.managed = false
		if failed < 0 {
			if hs := tx.commitHandlers; len(hs) > 1 {
				tx.commitHandlers = []func(){func() { runHandlers(hs) }}
			}
			err := tx.commitManaged()
			returned = true
			for _, c := range calls {
				if c.handlerPanic != nil {
					c.done <- panicked{v: c.handlerPanic}
					continue
				}
				c.done <- err
			}
			return
		}
		_ = tx.Rollback()
		calls = append(calls[:failed], calls[failed+1:]...)
		if len(calls) == 0 {
			returned = true
			return
		}
		var err error
		if tx, err = db.Begin(true); err != nil {
			returned = true
			for _, c := range calls {
				c.done <- err
			}
			return
		}
	}
}

// batchExited hands out results when the leader leaves runBatch early: a
// function (running) called runtime.Goexit, or the commit panicked or
// called Goexit (an OnCommit handler). The goroutine cannot be kept (a
// Goexit goes on), but no caller may wait forever nor the write lock stay
// held. (bbolt's Update frees the lock, but the other callers of its
// batch wait for a result that never comes.)
//
// A transaction still open is rolled back: a function cut short must not
// commit as if it had returned. Its caller gets ErrBatchGoexit, and the
// others run their functions again alone, as after a failure (errTrySolo).
// A transaction that committed before the exit (a handler) gives nil, or
// the panic of a call's handler to that call's caller.
func (db *DB) batchExited(tx *Tx, calls []*call, running int, inFn bool) {
	if inFn {
		db.leaveFn()
	}
	// Commit ends the transaction before its handlers run, and only a
	// handler (or the Logger) can exit inside it, once it succeeded.
	committed := tx.db == nil
	if !committed {
		// Under the write lock still: head is this transaction only if
		// it was published (the Logger exited after).
		db.mu.Lock()
		committed = db.head.meta.TxID >= tx.meta.TxID
		db.mu.Unlock()
		tx.managed = false
		_ = tx.Rollback()
	}
	for i, c := range calls {
		switch {
		case committed && c.handlerPanic != nil:
			// Its handler panicked before (or after) the one that exited:
			// that panic is its caller's, as in runBatch.
			c.done <- panicked{v: c.handlerPanic}
		case committed:
			c.done <- nil
		case i == running:
			c.done <- ErrBatchGoexit
		default:
			c.done <- errTrySolo
		}
	}
}

// runHandlers runs a batch's commit handlers in order (each wrapped by
// runBatch to keep a panic to its own call). One that calls
// runtime.Goexit ends the leader's goroutine, but only after the rest
// have run: they are other calls', whose callers get nil for the commit
// (they were skipped: TestBatchOnCommitGoexitOthersHandlersRun).
func runHandlers(hs []func()) {
	i := 0
	defer func() {
		if i < len(hs) { // hs[i-1] called Goexit
			runHandlers(hs[i:])
		}
	}()
	for i < len(hs) {
		h := hs[i]
		i++
		h()
	}
}

// runCall runs one batch function, turning its error into errTrySolo and
// its panic into a panicked its caller runs fn again for.
func runCall(tx *Tx, fn func(*Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicked{v: r, rerun: true}
		}
	}()
	if err := tx.run(fn); err != nil {
		return errTrySolo
	}
	return nil
}
