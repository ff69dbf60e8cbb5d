package folio

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBatchConcurrent(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := db.Batch(func(tx *Tx) error {
					return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprintf("w%02d-%03d", w, i)), []byte("v"))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	err := db.View(func(tx *Tx) error {
		n := 0
		_ = tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { n++; return nil })
		if n != writers*each {
			return fmt.Errorf("%d keys, want %d", n, writers*each)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Whether these writers shared commits depends on the scheduler, so
	// it is only logged; TestBatchSharesCommit (package tx) holds calls
	// queued and asserts that they share one.
	if c := db.Stats().TxStats.Commits; c >= int64(writers*each+1) {
		t.Logf("%d commits for %d batch calls (no sharing happened on this run)", c, writers*each)
	}
}

func TestBatchFailingFunctionRunsAlone(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	errBoom := errors.New("boom")
	var runs atomic.Int32
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = db.Batch(func(tx *Tx) error {
				if i == 3 {
					runs.Add(1)
					return errBoom
				}
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i)), []byte("ok"))
			})
		}(i)
	}
	wg.Wait()
	for i, err := range results {
		if i == 3 {
			if !errors.Is(err, errBoom) {
				t.Fatalf("failing function: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("function %d: %v", i, err)
		}
	}
	if runs.Load() < 1 {
		t.Fatal("failing function never ran")
	}
	_ = db.View(func(tx *Tx) error {
		for i := 0; i < 8; i++ {
			if got := tx.Bucket([]byte("b")).Get([]byte(fmt.Sprint(i))); (i == 3) != (got == nil) {
				t.Errorf("key %d = %q", i, got)
			}
		}
		return nil
	})
}

func TestBatchPanicReachesCaller(t *testing.T) {
	db := openTest(t, nil)
	defer func() {
		if r := recover(); r != "kaboom" {
			t.Fatalf("recovered %v, want the function's panic", r)
		}
		// The DB still works.
		mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("after")); return err })
	}()
	_ = db.Batch(func(tx *Tx) error { panic("kaboom") })
	t.Fatal("Batch returned")
}

// TestConcurrentReadersAndWriter runs readers against a writer under the
// race detector; every reader sees a consistent snapshot: all keys of a
// round or none.
func TestConcurrentReadersAndWriter(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					round := b.Get([]byte("round"))
					if round == nil {
						return nil
					}
					n := 0
					c := b.Cursor()
					for k, v := c.First(); k != nil; k, v = c.Next() {
						if string(k) != "round" && string(v) != string(round) {
							return fmt.Errorf("key %s from round %s in a snapshot of round %s", k, v, round)
						}
						n++
					}
					if n != 201 {
						return fmt.Errorf("snapshot has %d keys", n)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for round := 0; round < 60; round++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			v := []byte(fmt.Sprint(round))
			for i := 0; i < 200; i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%03d", i)), v); err != nil {
					return err
				}
			}
			return b.Put([]byte("round"), v)
		})
	}
	stop.Store(true)
	wg.Wait()
}

func TestNoFreelistSync(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, NoFreelistSync: true})
	for round := 0; round < 5; round++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := 0; i < 300; i++ {
				if err := b.Put([]byte(fmt.Sprintf("%d-%d", round%2, i)), make([]byte, 40)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if in, _ := db.Info(); in.Freelist != 0 {
		t.Fatalf("freelist persisted at page %d", in.Freelist)
	}
	db = reopen(t, db, &Options{NoFreelistSync: true})
	st := db.Stats()
	if st.FreePageN == 0 {
		t.Fatal("free pages not rebuilt on open")
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), []byte("y")) })
}

func TestStats(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024})
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		for i := 0; i < 1000; i++ {
			_ = b.Put([]byte(fmt.Sprintf("%04d", i)), make([]byte, 20))
		}
		n, _ := b.CreateBucket([]byte("nested"))
		return n.Put([]byte("big"), make([]byte, 5000))
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("0001")) })
	err := db.View(func(tx *Tx) error {
		s := tx.Bucket([]byte("b")).Stats() // 999 keys, the nested bucket's key, and its one key
		if s.KeyN != 1001 || s.BucketN != 2 || s.Depth < 2 || s.LeafPageN == 0 || s.BranchPageN == 0 || s.LargePageN != 5 {
			return fmt.Errorf("stats %+v", s)
		}
		if s.LeafInuse > s.LeafAlloc || s.LeafInuse == 0 {
			return fmt.Errorf("leaf bytes %d of %d", s.LeafInuse, s.LeafAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := db.Stats()
	if st.TxStats.Commits != 2 || st.FreePageN+st.PendingPageN == 0 {
		t.Fatalf("db stats %+v", st)
	}
	// Read transactions count per stripe; the sums must still add up.
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_ = db.View(func(*Tx) error { return nil })
	}
	if got := db.Stats(); got.TxN != st.TxN+100 || got.OpenTxN != 1 {
		t.Fatalf("after 100 Views with one Begin open: TxN %d (was %d), OpenTxN %d", got.TxN, st.TxN, got.OpenTxN)
	}
	// Open readers are counted on their snapshots: one left behind by a
	// commit still counts, once.
	if err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("after"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats(); got.OpenTxN != 1 {
		t.Fatalf("after a commit with one Begin open: OpenTxN %d", got.OpenTxN)
	}
	_ = rtx.Rollback()
	if got := db.Stats(); got.TxN != st.TxN+101 || got.OpenTxN != 0 {
		t.Fatalf("after the rollback: TxN %d (was %d), OpenTxN %d", got.TxN, st.TxN, got.OpenTxN)
	}
}
