package folio

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/foliodb/folio/tx"
)

// faultDB opens a database over crashStorage and commits transactions
// 1..n of the workload (seed 3).
func faultDB(t *testing.T, ps, n int, opts *Options) (*DB, *crashStorage, []*mbucket) {
	t.Helper()
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.Open("fault.db", st, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	models := workModels(3, n+1, ps)
	for i := 1; i <= n; i++ {
		ops := workTxn(3, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
	}
	return db, st, models
}

// bigTxn is transaction n of the workload plus enough large values to
// make the file grow (and be mapped anew) during its commit.
func bigTxn(ps, n int) func(*Tx) error {
	return func(tx *Tx) error {
		if err := applyTxn(tx, n, workTxn(3, n, ps)); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists([]byte("big"))
		if err != nil {
			return err
		}
		for i := 0; i < 12; i++ {
			if err := b.Put([]byte(fmt.Sprintf("v%02d", i)), make([]byte, 2*ps+i)); err != nil {
				return err
			}
		}
		return nil
	}
}

func bigModel(m *mbucket, ps int) *mbucket {
	m = m.clone()
	b := lookupModel(m, []string{"big"}, true)
	for i := 0; i < 12; i++ {
		b.kv[fmt.Sprintf("v%02d", i)] = string(make([]byte, 2*ps+i))
	}
	return m
}

// expectState checks that db holds exactly model m and passes Check.
func expectState(t *testing.T, where string, db *DB, m *mbucket) {
	t.Helper()
	if err := db.View(func(tx *Tx) error { return diffDB(tx, m) }); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for _, err := range checkErrs(db) {
		t.Errorf("%s: check: %v", where, err)
	}
}

// TestCommitFaults fails the n-th storage call (write, sync, grow or map)
// of one commit, for n = 0, 1, 2, ... until the commit succeeds. The
// commit must return the error and leave the database exactly as before;
// after a failed write, growth or mapping the same transaction then
// commits; after a failed sync the database refuses writes with
// ErrSyncFailed (reads still work) until reopened, and the reopened file
// holds the state before or, if only the meta page's own sync failed,
// after the transaction, and takes writes again.
func TestCommitFaults(t *testing.T) {
	const ps = 1024
	const pre = 4 // transactions before the failing one
	seen := map[crashOpKind]int{}
	for step := 0; ; step++ {
		db, st, models := faultDB(t, ps, pre, &Options{})
		before, after := models[pre], bigModel(models[pre+1], ps)
		st.mu.Lock()
		st.failAt = st.calls + step
		st.mu.Unlock()
		first := st.opCount()
		err := db.Update(bigTxn(ps, pre+1))
		if st.failedOp == nil {
			if err != nil {
				t.Fatalf("step %d: no fault injected, commit: %v", step, err)
			}
			expectState(t, "no fault", db, after)
			_ = db.Close()
			if step < 6 {
				t.Fatalf("the commit made only %d storage calls", step)
			}
			t.Logf("faults injected at each of %d calls of one commit: %v", step, seen)
			break
		}
		op := *st.failedOp
		seen[op.kind]++
		where := fmt.Sprintf("step %d (%s failed)", step, op)
		if !errors.Is(err, errInjected) {
			t.Fatalf("%s: commit returned %v, want the injected error", where, err)
		}
		expectState(t, where+", after the failed commit", db, before)

		if op.kind != opSync {
			if err := db.Update(bigTxn(ps, pre+1)); err != nil {
				t.Fatalf("%s: retry: %v", where, err)
			}
			expectState(t, where+", after the retry", db, after)
			crashAfterFault(t, where, st, first, ps, models[:pre+1], after)
			img := st.contents(t)
			_ = db.Close()
			db2, err := openImage(t, "fault.db", img, &Options{VerifyChecksums: true})
			if err != nil {
				t.Fatalf("%s: reopen: %v", where, err)
			}
			expectState(t, where+", reopened", db2, after)
			_ = db2.Close()
			continue
		}

		// A failed sync: no more writes, and the reason is given.
		err = db.Update(func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("x")); return err })
		if !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("%s: write after a failed sync: %v, want ErrSyncFailed", where, err)
		}
		if _, err := db.Begin(true); !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("%s: Begin(true) after a failed sync: %v, want ErrSyncFailed", where, err)
		}
		if err := db.Batch(func(tx *Tx) error { return nil }); !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("%s: Batch after a failed sync: %v, want ErrSyncFailed", where, err)
		}
		if s := db.Stats().SyncFailed; s == "" {
			t.Errorf("%s: Stats().SyncFailed is empty", where)
		}
		expectState(t, where+", reads after the failed sync", db, before)
		crashAfterFault(t, where, st, first, ps, models[:pre+1], after)
		img := st.contents(t)
		_ = db.Close()
		db2, err := openImage(t, "fault.db", img, &Options{VerifyChecksums: true})
		if err != nil {
			t.Fatalf("%s: reopen: %v", where, err)
		}
		metaSync := op.off < 2*ps
		err = db2.View(func(tx *Tx) error {
			if metaSync {
				if diffDB(tx, after) == nil {
					return nil // the meta write itself reached the file
				}
			}
			return diffDB(tx, before)
		})
		if err != nil {
			t.Fatalf("%s: reopened: %v", where, err)
		}
		if err := db2.Update(func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("x")); return err }); err != nil {
			t.Fatalf("%s: write after reopening: %v", where, err)
		}
		for _, err := range checkErrs(db2) {
			t.Errorf("%s: reopened: check: %v", where, err)
		}
		_ = db2.Close()
	}
	for _, k := range []crashOpKind{opWrite, opSync, opGrow} {
		if seen[k] == 0 {
			t.Errorf("no %s call was failed: the commit should grow the file", k)
		}
	}
}

// TestCommitMapFault fails the mapping of a file grown past the current
// view (the 16 MiB the first view covers): the commit fails and changes
// nothing, and the next commits, which need that mapping, work.
func TestCommitMapFault(t *testing.T) {
	const ps = 4096
	db, st, models := faultDB(t, ps, 2, &Options{})
	defer db.Close()
	huge := make([]byte, 17<<20)
	for i := range huge {
		huge[i] = byte(i / ps)
	}
	put := func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("huge"))
		if err != nil {
			return err
		}
		return b.Put([]byte("v"), huge)
	}
	st.mu.Lock()
	st.failMaps = true
	st.mu.Unlock()
	if err := db.Update(put); !errors.Is(err, errInjected) || st.failedOp == nil || st.failedOp.kind != opMap {
		t.Fatalf("commit with a failing map: %v (failed call %v), want the injected map error", err, st.failedOp)
	}
	expectState(t, "after the failed map", db, models[2])
	if err := db.Update(put); err != nil {
		t.Fatalf("retry: %v", err)
	}
	m := models[2].clone()
	lookupModel(m, []string{"huge"}, true).kv["v"] = string(huge)
	expectState(t, "after the retry", db, m)
	ops := workTxn(3, 3, ps)
	if err := db.Update(func(tx *Tx) error { return applyTxn(tx, 3, ops) }); err != nil {
		t.Fatal(err)
	}
	applyModel(m, 3, ops)
	expectState(t, "after one more", db, m)
}

// crashAfterFault cuts the power at every point from the failing commit
// on (its partial writes, and the retry if there was one): each image must
// hold the state before the transaction or after it, whole.
func crashAfterFault(t *testing.T, where string, st *crashStorage, first, ps int, models []*mbucket, after *mbucket) {
	t.Helper()
	ms := append(slices.Clone(models), after)
	pre := len(models) - 1
	rng := rand.New(rand.NewPCG(uint64(first), uint64(ps)))
	for k := first; k <= st.opCount(); k++ {
		for _, mode := range []imageMode{imageSynced, imageAll, imageSubset, imageTorn} {
			img := st.image(k, mode, ps, rng)
			w := fmt.Sprintf("%s, then a crash after op %d (%s), image %s", where, k, opAt(st.ops, k), mode)
			checkCrashImage(t, w, img, ms, pre, pre+1, &Options{})
			if t.Failed() {
				t.FailNow()
			}
		}
	}
}

// TestBatchFault checks that a Batch whose commit fails returns the error
// to its callers, changes nothing, and that the next Batch works.
func TestBatchFault(t *testing.T) {
	const ps = 1024
	db, st, models := faultDB(t, ps, 2, &Options{})
	defer db.Close()
	st.mu.Lock()
	st.failAt = st.calls // the first write of the next commit
	st.mu.Unlock()
	ops := workTxn(3, 3, ps)
	err := db.Batch(func(tx *Tx) error { return applyTxn(tx, 3, ops) })
	if !errors.Is(err, errInjected) {
		t.Fatalf("batch: %v, want the injected error", err)
	}
	expectState(t, "after the failed batch", db, models[2])
	if err := db.Batch(func(tx *Tx) error { return applyTxn(tx, 3, ops) }); err != nil {
		t.Fatal(err)
	}
	expectState(t, "after the next batch", db, models[3])
}

// TestMaxSize fills a database capped by Options.MaxSize: the commit that
// would pass the cap fails with ErrMaxSizeReached and changes nothing, the
// file stays within the cap, and a smaller transaction then commits.
func TestMaxSize(t *testing.T) {
	const ps = 1024
	const maxSize = 96 * ps
	db, st, models := faultDB(t, ps, 2, &Options{MaxSize: maxSize})
	defer db.Close()
	m := models[2].clone()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		val := make([]byte, 3*ps+i)
		err = db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("fill"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprintf("f%04d", i)), val)
		})
		if err == nil {
			lookupModel(m, []string{"fill"}, true).kv[fmt.Sprintf("f%04d", i)] = string(val)
		}
	}
	if !errors.Is(err, ErrMaxSizeReached) {
		t.Fatalf("filling: %v, want ErrMaxSizeReached", err)
	}
	expectState(t, "after ErrMaxSizeReached", db, m)
	if size := st.Size(); size > maxSize {
		t.Errorf("file is %d bytes, MaxSize %d", size, maxSize)
	}
	if err := db.Update(func(tx *Tx) error {
		return tx.Bucket([]byte("fill")).Put([]byte("small"), []byte("v"))
	}); err != nil {
		t.Fatalf("a small transaction after ErrMaxSizeReached: %v", err)
	}
	lookupModel(m, []string{"fill"}, true).kv["small"] = "v"
	expectState(t, "after the small transaction", db, m)
}
