package folio

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/tx"
)

var (
	crashImages = flag.Int("crash.images", 4, "power-loss test: images per crash point (>= 2: synced only, all writes, then random subsets and torn pages)")
	crashTxns   = flag.Int("crash.txns", 24, "power-loss test: transactions in the workload, per page size")
)

// TestPowerLoss commits numbered transactions through crashStorage, then,
// for every point k = 0, 1, 2, ... in its log of writes, syncs and growth,
// builds the images a power cut right there could leave (only synced
// bytes; every write; random subsets of the unsynced pages; a page torn at
// a sector), reopens each with tx.Open, runs Check and compares the
// contents with the model: the database must hold exactly the state after
// some transaction j, where j is at least the last transaction whose
// commit (meta sync included) had finished, and at most the one in
// flight. With only synced bytes, j must be exactly that last one.
//
// The free list not persisted (NoFreelistSync), so that every image is
// opened by rebuilding it from the tree, is a variant with 1 KiB pages.
func TestPowerLoss(t *testing.T) {
	for _, c := range []struct {
		ps           int
		noFreelist   bool
		txnsFraction int
	}{{1024, false, 1}, {4096, false, 1}, {1024, true, 2}} {
		t.Run(fmt.Sprintf("page=%d,nofreelistsync=%v", c.ps, c.noFreelist), func(t *testing.T) {
			seed := testSeed(t)
			opts := &Options{NoFreelistSync: c.noFreelist}
			testPowerLoss(t, seed, c.ps, opts, max(*crashTxns/c.txnsFraction, 1), max(*crashImages, 2))
		})
	}
}

func testPowerLoss(t *testing.T, seed uint64, ps int, opts *Options, txns, perPoint int) {
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.Open("crash.db", st, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Small growth steps, so the workload grows the file many times.
	db.AllocSize = 4 * ps
	models := workModels(seed, txns, ps)
	// done[i] is the log length once transaction i had committed.
	done := []int{st.opCount()}
	grows := 0
	for i := 1; i <= txns; i++ {
		st.setTag(i)
		ops := workTxn(seed, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
		done = append(done, durableAt(st))
		if err := db.View(func(tx *Tx) error { return diffDB(tx, models[i]) }); err != nil {
			t.Fatalf("txn %d, live: %v", i, err)
		}
	}
	for _, op := range st.ops {
		if op.kind == opGrow {
			grows++
		}
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if grows < 3 {
		t.Fatalf("the workload grew the file %d times; it should grow it several times", grows)
	}

	rng := rand.New(rand.NewPCG(seed, 1))
	nops := st.opCount()
	images, fellBack := 0, 0
	for k := 0; k <= nops; k++ {
		// lo: the last transaction whose commit had finished by op k.
		lo := 0
		for lo+1 < len(done) && done[lo+1] <= k {
			lo++
		}
		hi := lo
		if k > done[lo] {
			hi = lo + 1 // its commit was under way
		}
		for i := 0; i < perPoint; i++ {
			mode := imageMode(min(i, int(imageTorn)))
			if i >= 2 {
				mode = imageSubset + imageMode(rng.IntN(2))
			}
			img := st.image(k, mode, ps, rng)
			images++
			where := fmt.Sprintf("crash after op %d/%d (%s), image %s", k, nops, opAt(st.ops, k), mode)
			// Unsynced bytes may add the commit in flight, never take
			// away one that finished.
			maxTxn := hi
			if mode == imageSynced {
				maxTxn = lo
			}
			if checkCrashImage(t, where, img, models, lo, maxTxn, opts) {
				fellBack++
			}
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	t.Logf("%d transactions, %d logged calls (%d grows), %d crash images, %d opened via the older meta page",
		txns, nops, grows, images, fellBack)
}

func opAt(ops []crashOp, k int) string {
	if k == 0 {
		return "none"
	}
	return "last " + ops[k-1].String()
}

// checkCrashImage opens img and checks it holds the state after a
// transaction in [minTxn, maxTxn]. It reports whether open fell back to
// the older meta page.
func checkCrashImage(t *testing.T, where string, img []byte, models []*mbucket, minTxn, maxTxn int, opts *Options) bool {
	t.Helper()
	o := *opts
	o.VerifyChecksums = true
	db, err := openImage(t, "crash.db", img, &o)
	if err != nil {
		t.Errorf("%s: open: %v", where, err)
		return false
	}
	defer db.Close()
	checkHolds(t, where, db, models, minTxn, maxTxn)
	// The image must take writes again.
	writeAfterCrash(t, where, db)
	return db.Stats().MetaFallback != ""
}

// checkHolds runs Check on a recovered db and checks that it holds the
// state after exactly one transaction j in [minTxn, maxTxn], whole.
func checkHolds(t *testing.T, where string, db *DB, models []*mbucket, minTxn, maxTxn int) {
	t.Helper()
	for _, err := range checkErrs(db) {
		t.Errorf("%s: check: %v", where, err)
	}
	err := db.View(func(tx *Tx) error {
		j, err := readMarker(tx)
		if err != nil {
			return fmt.Errorf("marker: %w", err)
		}
		if j < minTxn || j > maxTxn {
			return fmt.Errorf("holds transaction %d, want %d..%d", j, minTxn, maxTxn)
		}
		if err := diffDB(tx, models[j]); err != nil {
			return fmt.Errorf("transaction %d partly present: %w", j, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// TestPowerLossTwice cuts the power, recovers, commits a few more
// transactions on the recovered file and cuts the power again at every
// point of those: recovery must leave a file whose next commits are as
// crash-safe as any (free pages, the meta slot to write next, a meta
// page that the first crash tore).
func TestPowerLossTwice(t *testing.T) {
	const ps = 1024
	const txns, more = 16, 4
	seed := testSeed(t)
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.Open("crash.db", st, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	models := workModels(seed, txns+more, ps)
	for i := 1; i <= txns; i++ {
		st.setTag(i)
		ops := workTxn(seed, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	images := 0
	for round := 0; round < 12; round++ {
		k := rng.IntN(st.opCount() + 1)
		img := st.image(k, imageSubset+imageMode(rng.IntN(2)), ps, rng)
		st2 := newCrashStorage(t, img)
		db2, err := tx.Open("crash.db", st2, &Options{VerifyChecksums: true})
		if err != nil {
			t.Fatalf("round %d: first crash after op %d: open: %v", round, k, err)
		}
		db2.AllocSize = 4 * ps
		var j int
		if err := db2.View(func(tx *Tx) error { j, err = readMarker(tx); return err }); err != nil {
			t.Fatal(err)
		}
		done := []int{st2.opCount()} // done[i]: log length after transaction j+i
		for i := j + 1; i <= j+more; i++ {
			st2.setTag(i)
			ops := workTxn(seed, i, ps)
			if err := db2.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
				t.Fatalf("round %d: txn %d after recovering: %v", round, i, err)
			}
			done = append(done, durableAt(st2))
		}
		if err := db2.Close(); err != nil {
			t.Fatal(err)
		}
		for k2 := 0; k2 <= st2.opCount(); k2++ {
			lo := 0
			for lo+1 < len(done) && done[lo+1] <= k2 {
				lo++
			}
			hi := lo
			if k2 > done[lo] {
				hi = lo + 1
			}
			for _, mode := range []imageMode{imageSynced, imageSubset, imageTorn} {
				img2 := st2.image(k2, mode, ps, rng)
				images++
				maxTxn := j + hi
				if mode == imageSynced {
					maxTxn = j + lo
				}
				where := fmt.Sprintf("round %d: crash after op %d, recovered at txn %d, crash again after op %d (%s), image %s",
					round, k, j, k2, opAt(st2.ops, k2), mode)
				checkCrashImage(t, where, img2, models, j+lo, maxTxn, &Options{})
				if t.Failed() {
					t.FailNow()
				}
			}
		}
	}
	t.Logf("%d images after a second crash", images)
}

// writeAfterCrash checks that a recovered image takes a write (a large
// value, so pages are allocated from what recovery left free) and still
// passes Check afterwards.
func writeAfterCrash(t *testing.T, where string, db *DB) {
	t.Helper()
	if err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("after-crash"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), make([]byte, 3000))
	}); err != nil {
		t.Errorf("%s: write after reopen: %v", where, err)
	}
	for _, err := range checkErrs(db) {
		t.Errorf("%s: check after a write: %v", where, err)
	}
}

// durableAt is the count of calls after which the last commit was
// durable: a commit may end by cutting the file's free tail (giveBackTail,
// after its meta is synced), and an image taken between that sync and the
// cut already holds the commit.
func durableAt(st *crashStorage) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := len(st.ops)
	for n > 0 && st.ops[n-1].kind == opTruncate {
		n--
	}
	return n
}
