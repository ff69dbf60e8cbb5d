package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// splitLeafOfB grows the leaf of bucket b holding k000..k019 past
// four pages with appends, so that a Put splits it at once (splitPath),
// then puts k0035 into the first part (which copies that part's
// elements: it had no room left).
func splitLeafOfB(b *Bucket) error {
	for i := range 200 {
		if err := b.Put(fmt.Appendf(nil, "z%03d", i), []byte(strings.Repeat("v", 40))); err != nil {
			return err
		}
	}
	return b.Put([]byte("k0035"), []byte("new"))
}

// TestCursorDeleteAfterSplit: Cursor.Delete after a Bucket.Put
// split the cursor's leaf within the transaction (a node past four pages
// splits at once). The cursor still read the leaf as it was before the
// split: a second Delete removed the key that had followed the deleted
// one then, not the first key after it now (README), and a Delete of a
// key since deleted and created again as a nested bucket took the
// element for the plain value it had been (in WAL mode it logged a
// delete of the bucket, and the replay after a crash failed Open).
func TestCursorDeleteAfterSplit(t *testing.T) {
	setup := func(t *testing.T, opts *Options) *DB {
		db, err := Open(filepath.Join(t.TempDir(), "a.db"), 0o600, opts)
		if err != nil {
			t.Fatal(err)
		}
		db.WALImageLimit = -1 // log operations
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 20 {
				if err := b.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		return db
	}
	keys := func(t *testing.T, b *Bucket) []string {
		t.Helper()
		var ks []string
		if err := b.ForEach(func(k, _ []byte) error {
			if k[0] == 'k' {
				ks = append(ks, string(k))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	want := func(drop ...string) []string {
		var ks []string
		for i := range 20 {
			k := fmt.Sprintf("k%03d", i)
			if !slices.Contains(drop, k) {
				ks = append(ks, k)
			}
			if i == 3 && !slices.Contains(drop, "k0035") {
				ks = append(ks, "k0035")
			}
		}
		return ks
	}

	t.Run("second delete", func(t *testing.T) {
		db := setup(t, &Options{PageSize: 1024})
		defer closeChecked(t, db)
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			if err := b.Put([]byte("k010"), []byte("w")); err != nil { // the leaf is now a node
				return err
			}
			c := b.Cursor()
			if k, _ := c.Seek([]byte("k003")); string(k) != "k003" {
				return fmt.Errorf("Seek = %q", k)
			}
			if err := c.Delete(); err != nil {
				return err
			}
			if err := splitLeafOfB(b); err != nil {
				return err
			}
			// k0035 now follows the key deleted.
			if err := c.Delete(); err != nil {
				return err
			}
			if got, want := keys(t, b), want("k003", "k0035"); !slices.Equal(got, want) {
				t.Errorf("after the second Cursor.Delete: %v, want %v", got, want)
			}
			if k, _ := c.Next(); string(k) != "k004" {
				t.Errorf("Next after the second Delete = %q, want k004", k)
			}
			return nil
		})
	})

	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("key now a bucket/wal=%v", walMode), func(t *testing.T) {
			dir := t.TempDir()
			opts := &Options{PageSize: 1024}
			if walMode {
				opts = logicalOpts()
			}
			db := setup(t, opts)
			path, crash := db.Path(), filepath.Join(dir, "crash.db")
			if walMode {
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				copyFile(t, path, crash)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if err := b.Put([]byte("k010"), []byte("w")); err != nil {
					return err
				}
				c := b.Cursor()
				if k, _ := c.Seek([]byte("k003")); string(k) != "k003" {
					return fmt.Errorf("Seek = %q", k)
				}
				if err := splitLeafOfB(b); err != nil {
					return err
				}
				if err := b.Delete([]byte("k003")); err != nil {
					return err
				}
				nb, err := b.CreateBucket([]byte("k003"))
				if err != nil {
					return err
				}
				if err := nb.Put([]byte("in"), []byte("v")); err != nil {
					return err
				}
				if err := c.Delete(); !errors.Is(err, ErrIncompatibleValue) {
					t.Errorf("Cursor.Delete on k003, now a bucket: %v, want ErrIncompatibleValue", err)
				}
				if k, v := c.Seek([]byte("k003")); string(k) != "k003" || v != nil {
					t.Errorf("Seek(k003) after the refused Delete = %q, %q; want the bucket", k, v)
				}
				return nil
			})
			check := func(db *DB) {
				t.Helper()
				err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if got, want := keys(t, b), want(); !slices.Equal(got, want) {
						t.Errorf("keys %v, want %v", got, want)
					}
					if v := b.Bucket([]byte("k003")).Get([]byte("in")); string(v) != "v" {
						t.Errorf("k003/in = %q, want v", v)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			checkReplayedCopy(t, db, path, crash, walMode, check)
		})
	}
}

var cursorsCompactDeep = flag.Bool("cursorscompact.deep", false,
	"TestCursorsModel, TestCompactModel: more seeds and operations")

// TestCursorsModel is TestCursorModel with several
// cursors on the bucket at once, each one's Cursor.Delete a change to
// the bucket for the others, and runs of puts long enough to split a
// leaf within the transaction (a node past four pages splits at once).
// What it checks is what the README promises: a repositioned cursor
// reads the bucket as it is, Cursor.Delete then Next or Prev is exact,
// and Cursor.Delete removes the key the cursor last returned (or after
// a Delete the first key after the one deleted), or refuses it if it is
// a bucket now. Commits, rollbacks and reopens; WAL mode logs
// operations, and each round's log is replayed into a copy of the file
// as the last checkpoint left it.
func TestCursorsModel(t *testing.T) {
	seeds, txs, ops := 2, 6, 400
	if *cursorsCompactDeep {
		seeds, txs, ops = 30, 20, 1500
	}
	cmSeeds(t, seeds, 22, func(r *cmRun, wal bool) { cursorsRun(r, r.t.TempDir(), wal, txs, ops) })
}

func cursorsRun(r *cmRun, dir string, walMode bool, txs, ops int) {
	compare := func(db *DB, what string) {
		r.t.Helper()
		if err := db.View(func(tx *Tx) error {
			return r.compareBucket(tx.Bucket([]byte("p")).Bucket([]byte("b")), r.model)
		}); err != nil {
			r.t.Fatalf("%s: %v; last ops %v", what, err, r.log[max(0, len(r.log)-16):])
		}
	}
	r.rounds(dir, walMode, txs, 4, r.start, func(tx *Tx) func() {
		m := r.model.clone()
		cursorsOps(r, tx, m, ops)
		return func() { r.model = m }
	}, compare)
}

// rounds is the cursor models' transaction loop over a database in dir:
// start sets it up; each of txs rounds runs ops in a write transaction
// (ops works on a copy of the model and returns what makes the copy the
// model), rolls back one round in rollbackOneIn and commits the others,
// and compares the database with the model (compare); in WAL mode the
// round's log, operations only, is replayed into a copy of the file as
// the last checkpoint left it, which is compared too; one round in four
// reopens the database and compares it again.
func (r *cmRun) rounds(dir string, walMode bool, txs, rollbackOneIn int,
	start func(db *DB), ops func(tx *Tx) (commit func()), compare func(db *DB, what string)) {
	t := r.t
	path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
	opts := &Options{PageSize: r.ps, NoSync: true}
	if walMode {
		opts = logicalOpts()
	}
	open := func(p string) *DB {
		db, err := Open(p, 0o600, opts)
		if err != nil {
			t.Fatalf("open %s: %v; last ops %v", p, err, r.log[max(0, len(r.log)-16):])
		}
		db.WALImageLimit = -1 // log operations: the replay runs the cursor deletes again
		return db
	}
	db := open(path)
	defer func() {
		if r.wtx != nil {
			_ = r.wtx.Rollback()
		}
		if db != nil {
			closeChecked(t, db)
		}
	}()
	start(db)
	compare(db, "start")
	for round := range txs {
		if walMode {
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			copyFile(t, path, crash)
		}
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		r.wtx = tx
		r.log = r.log[:0]
		commit := ops(tx)
		if t.Failed() {
			return
		}
		r.wtx = nil
		if r.rng.IntN(rollbackOneIn) == 0 {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := tx.Commit(); err != nil {
				t.Fatalf("round %d: commit: %v", round, err)
			}
			commit()
		}
		compare(db, fmt.Sprintf("round %d", round))
		if walMode {
			_ = os.RemoveAll(LogDir(crash))
			copyDir(t, LogDir(path), LogDir(crash))
			cdb := open(crash)
			compare(cdb, fmt.Sprintf("round %d: the crashed copy after replay", round))
			closeChecked(t, cdb)
		}
		if r.rng.IntN(4) == 0 {
			closeChecked(t, db)
			db = nil
			db = open(path)
			compare(db, fmt.Sprintf("round %d: after a reopen", round))
		}
	}
}

// cursorsOps runs n operations in tx against m with 3 cursors.
func cursorsOps(r *cmRun, tx *Tx, m *cmModel, n int) {
	t := r.t
	b := tx.Bucket([]byte("p")).Bucket([]byte("b"))
	const nc = 3
	var cs [nc]*Cursor
	var mcs [nc]*cmCursor
	for i := range cs {
		cs[i], mcs[i] = b.Cursor(), &cmCursor{pos: -1, known: true}
	}
	// changed is called after a change to b not made through cursor
	// but (-1: none of them), before the model's keys move.
	changed := func(but int) {
		for i, mc := range mcs {
			if i == but {
				continue
			}
			mc.lose(m)
		}
	}
	randKey := func() string { return r.randKey(m) }
	put := func(k, v string) { r.put(b, m, k, v, func() { changed(-1) }) }
	del := func(k string) { r.del(b, m, k, func() { changed(-1) }) }
	for range n {
		if t.Failed() {
			return
		}
		ci := r.rng.IntN(nc)
		c, mc := cs[ci], mcs[ci]
		var op string
		switch x := r.rng.IntN(100); {
		case x < 12:
			k := randKey()
			op = "put " + k
			put(k, r.value())
		case x < 20:
			k := randKey()
			op = "delete " + k
			del(k)
		case x < 22:
			i, _ := slices.BinarySearch(m.keys, randKey())
			cnt := 10 + r.rng.IntN(80)
			op = fmt.Sprintf("delete run of %d from %d", cnt, i)
			for _, k := range slices.Clone(m.keys[i:min(i+cnt, len(m.keys))]) {
				del(k)
			}
		case x < 25: // a run of puts of new keys between others: splits a leaf now
			start := r.rng.IntN(1100)
			cnt := 50 + r.rng.IntN(200)
			op = fmt.Sprintf("put run of %d from %d", cnt, start)
			for i := range cnt {
				put(fmt.Sprintf("%s.%03d", cmKey(start), i), strings.Repeat("s", 20+r.rng.IntN(40)))
			}
		case x < 28:
			k := randKey()
			op = "create bucket " + k
			_, err := b.CreateBucket([]byte(k))
			_, sub := m.subs[k]
			_, val := m.kv[k]
			switch {
			case sub && !errors.Is(err, ErrBucketExists), val && !errors.Is(err, ErrIncompatibleValue):
				r.fail("CreateBucket %q: %v", k, err)
			case sub || val:
			case err != nil:
				r.fail("CreateBucket %q: %v", k, err)
			default:
				changed(-1)
				m.subs[k] = map[string]string{}
				m.add(k)
			}
		case x < 31: // a key deleted and created again as a bucket
			k := randKey()
			if _, val := m.kv[k]; !val {
				continue
			}
			op = "delete and create bucket " + k
			del(k)
			if _, err := b.CreateBucket([]byte(k)); err != nil {
				r.fail("CreateBucket %q: %v", k, err)
			}
			changed(-1)
			m.subs[k] = map[string]string{}
			m.add(k)
		case x < 33:
			if len(m.subs) == 0 {
				continue
			}
			k := slices.Sorted(maps.Keys(m.subs))[r.rng.IntN(len(m.subs))]
			op = "delete bucket " + k
			if err := b.DeleteBucket([]byte(k)); err != nil {
				r.fail("DeleteBucket %q: %v", k, err)
			}
			changed(-1)
			delete(m.subs, k)
			m.remove(k)
		case x < 35:
			if len(m.subs) == 0 {
				continue
			}
			k := slices.Sorted(maps.Keys(m.subs))[r.rng.IntN(len(m.subs))]
			nk, nv := fmt.Sprintf("n%03d", r.rng.IntN(50)), r.value()
			op = "put in bucket " + k
			if err := b.Bucket([]byte(k)).Put([]byte(nk), []byte(nv)); err != nil {
				r.fail("Put into %q: %v", k, err)
			}
			m.subs[k][nk] = nv
		case x < 38:
			op = fmt.Sprintf("c%d ", ci) + r.cursorOp(m, c, mc, "first", "", nil)
		case x < 41:
			op = fmt.Sprintf("c%d ", ci) + r.cursorOp(m, c, mc, "last", "", nil)
		case x < 50:
			op = fmt.Sprintf("c%d ", ci) + r.cursorOp(m, c, mc, "seek", randKey(), nil)
		case x < 80:
			op = fmt.Sprintf("c%d ", ci) + r.cursorOp(m, c, mc, map[bool]string{true: "next", false: "prev"}[x < 67], "", nil)
		default:
			del := r.cursorOp(m, c, mc, "delete", "", func() { changed(ci) })
			if del == "" {
				continue
			}
			op = fmt.Sprintf("c%d ", ci) + del
		}
		r.log = append(r.log, op)
		if *cursorModelTrace && !t.Failed() {
			if err := r.compareBucket(b, m); err != nil {
				r.fail("after the op: %v", err)
			}
		}
	}
	if t.Failed() {
		return
	}
	if err := r.compareBucket(b, m); err != nil {
		r.fail("at the end of the transaction: %v", err)
	}
}

// TestCursorSecondDeleteAfterParentChanged: a second
// Cursor.Delete, after the cursor's first one emptied the end of its
// leaf and a Put split a leaf before it (adding entries to their parent
// ahead of the cursor's), stepped to the next leaf by its stale index in
// the parent: into a leaf before its own. In WAL mode tx's Cursor.Delete
// logged that leaf's first key while the delete itself (which sought the
// key afresh) removed the right one, so the replay after a crash
// deleted another key than the commit had, and kept the one it removed.
func TestCursorSecondDeleteAfterParentChanged(t *testing.T) {
	val := []byte(strings.Repeat("v", 250)) // inline: 3 elements a leaf
	big := func(i int) string { return fmt.Sprintf("b%02d", i) }
	const n = 12
	for pos := 3; pos < n-1; pos++ {
		t.Run(fmt.Sprintf("pos=%d", pos), func(t *testing.T) {
			dir := t.TempDir()
			path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
			db, err := Open(path, 0o600, logicalOpts())
			if err != nil {
				t.Fatal(err)
			}
			db.WALImageLimit = -1
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range n {
					if err := b.Put([]byte(big(i)), val); err != nil {
						return err
					}
				}
				return nil
			})
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			copyFile(t, path, crash)
			var want []string
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if err := b.Put([]byte(big(pos)), val[1:]); err != nil { // the path is now nodes
					return err
				}
				c := b.Cursor()
				if k, _ := c.Seek([]byte(big(pos))); string(k) != big(pos) {
					return fmt.Errorf("Seek = %.3q", k)
				}
				if err := c.Delete(); err != nil {
					return err
				}
				for j := range 40 { // splits the leaf of b01
					if err := b.Put(fmt.Appendf(nil, "b01.%03d", j), val); err != nil {
						return err
					}
				}
				if err := c.Delete(); err != nil { // removes b(pos+1)
					return err
				}
				for i := range n {
					if i != pos && i != pos+1 {
						want = append(want, big(i)[:3])
					}
				}
				return nil
			})
			check := func(what string, db *DB) {
				t.Helper()
				var got []string
				err := db.View(func(tx *Tx) error {
					return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error {
						if len(k) == len(big(0)) {
							got = append(got, string(k[:3]))
						}
						return nil
					})
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: %q, want %q", what, got, want)
				}
			}
			check("committed", db)
			copyDir(t, LogDir(path), LogDir(crash))
			closeChecked(t, db)
			db2, err := Open(crash, 0o600, logicalOpts())
			if err != nil {
				t.Fatalf("open after the crash: %v", err)
			}
			check("replayed after a crash", db2)
			closeChecked(t, db2)
		})
	}
}

// compactModelTree builds a random tree of buckets in db over a few
// transactions (some rolled back): nesting up to 8 deep, empty buckets,
// empty values, values over a page, keys of a few KiB, sequences, and
// deletes of keys and buckets. It returns the state as dumpTree lists it.
func compactModelTree(t *testing.T, db *DB, rng *rand.Rand, txs int) {
	t.Helper()
	for range txs {
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(60) {
			b, err := tx.CreateBucketIfNotExists([]byte{'t', byte('0' + rng.IntN(4))})
			if err != nil {
				t.Fatal(err)
			}
			for d := rng.IntN(8); d > 0 && b != nil; d-- {
				name := []byte{'n', byte('0' + rng.IntN(3))}
				if rng.IntN(20) == 0 {
					name = []byte(strings.Repeat("N", 2000+rng.IntN(3000)))
				}
				nb, err := b.CreateBucketIfNotExists(name)
				if errors.Is(err, ErrIncompatibleValue) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b = nb
			}
			k := fmt.Appendf(nil, "k%03d", rng.IntN(300))
			if rng.IntN(15) == 0 {
				k = append(k, strings.Repeat("K", 1000+rng.IntN(4000))...)
			}
			switch op := rng.IntN(12); {
			case op < 6:
				var v []byte
				switch rng.IntN(6) {
				case 0:
					v = []byte{}
				case 1:
					v = bytes.Repeat([]byte{byte(rng.IntN(256))}, 1000+rng.IntN(20000))
				default:
					v = fmt.Appendf(nil, "v%d", rng.Int())
				}
				if err := b.Put(k, v); err != nil && !errors.Is(err, ErrIncompatibleValue) {
					t.Fatal(err)
				}
			case op < 8:
				if err := b.Delete(k); err != nil && !errors.Is(err, ErrIncompatibleValue) {
					t.Fatal(err)
				}
			case op < 9:
				if err := b.SetSequence(rng.Uint64()); err != nil {
					t.Fatal(err)
				}
			case op < 10:
				if _, err := b.CreateBucketIfNotExists(fmt.Appendf(nil, "e%d", rng.IntN(5))); err != nil &&
					!errors.Is(err, ErrIncompatibleValue) {
					t.Fatal(err)
				}
			default:
				if err := b.DeleteBucket([]byte{'n', byte('0' + rng.IntN(3))}); err != nil &&
					!errors.Is(err, ErrBucketNotFound) && !errors.Is(err, ErrIncompatibleValue) {
					t.Fatal(err)
				}
			}
		}
		if rng.IntN(5) == 0 {
			err = tx.Rollback()
		} else {
			err = tx.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactModel: Compact of random trees (src in WAL mode
// with its commits still in the log, or not; dst in WAL mode or not, of
// another page size, with and without a room cap) at transaction sizes
// from one entry to unbounded, compared line by line with src, checked,
// and again after a reopen. A Compact that fails for want of room
// returns ErrMaxSizeReached and leaves dst whole and usable.
func TestCompactModel(t *testing.T) {
	seeds := 3
	if *cursorsCompactDeep {
		seeds = 20
	}
	base := testSeed(t)
	for s := range seeds {
		seed := base + uint64(s)
		rng := rand.New(rand.NewPCG(seed, 22))
		srcWAL, dstWAL := rng.IntN(2) == 0, rng.IntN(2) == 0
		max := []int64{0, 1, 7, 300, 4096, 1 << 20}[rng.IntN(6)]
		capped := rng.IntN(4) == 0
		t.Run(fmt.Sprintf("seed=%d/srcwal=%v/dstwal=%v/max=%d/capped=%v", seed, srcWAL, dstWAL, max, capped), func(t *testing.T) {
			srcOpts := &Options{PageSize: 4096, NoSync: true}
			if srcWAL {
				srcOpts = &Options{PageSize: 4096, NoSync: true, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour}
			}
			src := openTest(t, srcOpts)
			compactModelTree(t, src, rng, 12)
			want := dumpTree(t, src)
			dstOpts := &Options{PageSize: 1024, NoSync: true, WAL: dstWAL}
			if capped {
				dstOpts.MaxSize = 256 << 10
			}
			dstPath := tempPath(t)
			dst, err := Open(dstPath, 0o600, dstOpts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { closeChecked(t, dst) }()
			err = Compact(dst, src, max)
			if capped && err != nil {
				if !errors.Is(err, ErrMaxSizeReached) {
					t.Fatalf("Compact into a capped file: %v, want ErrMaxSizeReached", err)
				}
				mustCheck(t, dst)
				got := dumpTree(t, dst)
				if max == 0 && len(got) != 0 {
					t.Fatalf("a failed one-transaction Compact left %d lines", len(got))
				}
				mustUpdate(t, dst, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("after")); return err })
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := dumpTree(t, dst); !slices.Equal(want, got) {
				t.Fatalf("copy differs: %d lines against %d; first difference %.200q", len(got), len(want), firstDiff(want, got))
			}
			mustCheck(t, dst)
			closeChecked(t, dst)
			dstOpts.MaxSize = 0
			if dst, err = Open(dstPath, 0o600, dstOpts); err != nil {
				t.Fatal(err)
			}
			if got := dumpTree(t, dst); !slices.Equal(want, got) {
				t.Fatalf("copy differs after reopen: first difference %.200q", firstDiff(want, got))
			}
		})
	}
}

// TestWALOpsReplayMatches: random transactions over nested
// buckets (puts, deletes, runs of puts that split leaves at once, bucket
// creation, deletion and moves, sequences, several cursors walking and
// deleting, in buckets that move or whose parents change), logged as
// operations; after each commit the log, replayed into the file as the
// last checkpoint left it, must give the database the commit left, and
// after a rollback nothing. The live database is the oracle: no model
// can say what a cursor walked after changes, but the log must say what
// the cursor did.
func TestWALOpsReplayMatches(t *testing.T) {
	seeds, txs, ops := 3, 8, 200
	if *cursorsCompactDeep {
		seeds, txs, ops = 40, 15, 600
	}
	base := testSeed(t)
	for s := range seeds {
		seed := base + uint64(s)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2222))
			dir := t.TempDir()
			path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
			db, err := Open(path, 0o600, logicalOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { closeChecked(t, db) }()
			db.WALImageLimit = -1
			name := func() []byte { return []byte{"abc"[rng.IntN(3)]} }
			for round := range txs {
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				copyFile(t, path, crash)
				var log []string
				err := db.Update(func(tx *Tx) error {
					// Handles to buckets at random paths, up to 3 deep.
					open := func() *Bucket {
						b, err := tx.CreateBucketIfNotExists(name())
						if err != nil {
							return nil
						}
						for d := rng.IntN(3); d > 0 && b != nil; d-- {
							if b, err = b.CreateBucketIfNotExists(name()); err != nil {
								return nil
							}
						}
						return b
					}
					var curs []*Cursor
					for range ops {
						b := open()
						if b == nil {
							continue
						}
						k := fmt.Appendf(nil, "k%03d", rng.IntN(200))
						var op string
						var err error
						switch x := rng.IntN(100); {
						case x < 25:
							v := fmt.Appendf(nil, "v%d", rng.Int())
							if rng.IntN(10) == 0 {
								v = bytes.Repeat(v, 200)
							}
							op, err = "put", b.Put(k, v)
						case x < 30:
							op = "put run"
							for i := range 60 {
								if err = b.Put(fmt.Appendf(nil, "%s.%02d", k, i), bytes.Repeat([]byte{'r'}, 40)); err != nil {
									break
								}
							}
						case x < 38:
							op, err = "delete", b.Delete(k)
						case x < 42:
							_, err = b.CreateBucket(k)
							op = "create bucket"
						case x < 45:
							op, err = "delete bucket", b.DeleteBucket(name())
						case x < 50:
							var dst *Bucket
							if rng.IntN(3) > 0 {
								dst = open()
							}
							op, err = "move bucket", b.MoveBucket(name(), dst)
						case x < 53:
							_, err = b.NextSequence()
							op = "sequence"
						case x < 60:
							op = "new cursor"
							c := b.Cursor()
							c.Seek(k)
							curs = append(curs, c)
						case x < 85:
							if len(curs) == 0 {
								continue
							}
							c := curs[rng.IntN(len(curs))]
							switch rng.IntN(5) {
							case 0:
								op = "cursor prev"
								c.Prev()
							case 1:
								op = "cursor seek"
								c.Seek(k)
							default:
								op = "cursor next"
								c.Next()
							}
						default:
							if len(curs) == 0 {
								continue
							}
							op, err = "cursor delete", curs[rng.IntN(len(curs))].Delete()
						}
						log = append(log, fmt.Sprintf("%s %s %s: %v", op, b, k, err))
						if err != nil && !errors.Is(err, ErrIncompatibleValue) && !errors.Is(err, ErrBucketNotFound) &&
							!errors.Is(err, ErrBucketExists) && !errors.Is(err, ErrSameBuckets) {
							return fmt.Errorf("%s: %w", op, err)
						}
					}
					if rng.IntN(5) == 0 {
						return errors.New("roll back")
					}
					return nil
				})
				if err != nil && err.Error() != "roll back" {
					t.Fatalf("round %d: %v", round, err)
				}
				want := dumpTree(t, db)
				_ = os.RemoveAll(LogDir(crash))
				copyDir(t, LogDir(path), LogDir(crash))
				cdb, err := Open(crash, 0o600, logicalOpts())
				if err != nil {
					t.Fatalf("round %d: open of the crashed copy: %v; last ops %q", round, err, log[max(0, len(log)-20):])
				}
				got := dumpTree(t, cdb)
				closeChecked(t, cdb)
				if !slices.Equal(want, got) {
					t.Fatalf("round %d: the log replayed gives another database: first difference %.200q; last ops %q", round, firstDiff(want, got), log[max(0, len(log)-20):])
				}
			}
		})
	}
}

// TestCompactErrorsSayFolioOnce: Compact's errors quoted dst's
// with its "folio: " inside ("folio: compact A into B: folio: bucket
// already exists: ...") and, for a dst Begin refused, named dst twice
// ("folio: compact into B: folio: database is in read-only mode: B").
func TestCompactErrorsSayFolioOnce(t *testing.T) {
	src := openTest(t, nil)
	mustUpdate(t, src, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b1")); return err })
	dst := openTest(t, nil)
	mustUpdate(t, dst, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b1")); return err })
	path := tempPath(t)
	ro, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if ro, err = Open(path, 0o600, &Options{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, tc := range []struct {
		err  error
		is   error
		path string
	}{
		{Compact(dst, src, 0), ErrBucketExists, dst.Path()},
		{Compact(ro, src, 0), ErrDatabaseReadOnly, path},
		{Compact(src, src, 0), ErrCopyOntoDB, src.Path()},
		{Compact(nil, src, 0), ErrDatabaseNotOpen, ""},
	} {
		msg := fmt.Sprint(tc.err)
		if !errors.Is(tc.err, tc.is) || strings.Count(msg, "folio: ") != 1 || tc.path != "" && strings.Count(msg, tc.path) != 1 {
			t.Errorf("%q: want %v, \"folio: \" once and %s once", msg, tc.is, tc.path)
		}
	}
}
