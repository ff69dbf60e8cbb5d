package folio

import (
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"runtime"
	"testing"
)

var scaleDeep = flag.Bool("scale.deep", false,
	"run the scale tests with 1M keys instead of 100k")

// scaleN is how many keys the scale tests put in one transaction.
func scaleN() int {
	switch {
	case *scaleDeep:
		return 1_000_000
	case raceEnabled:
		return 25_000 // the bounds are per key; -race is ~5x slower
	}
	return 100_000
}

// scaleMallocs returns how many heap objects fn allocated.
func scaleMallocs(fn func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	fn()
	runtime.ReadMemStats(&m1)
	return m1.Mallocs - m0.Mallocs
}

// heapAfterGC is the live heap once pooled memory is let go: a
// sync.Pool keeps what it holds for one more collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func scaleKeys(n int, random bool) [][]byte {
	r := rand.New(rand.NewPCG(22, 1))
	keys := make([][]byte, n)
	buf := make([]byte, 16*n)
	for i := range keys {
		k := buf[16*i : 16*i+16 : 16*i+16]
		if random {
			binary.BigEndian.PutUint64(k, r.Uint64())
			binary.BigEndian.PutUint64(k[8:], r.Uint64())
		} else {
			binary.BigEndian.PutUint64(k, uint64(i))
		}
		keys[i] = k
	}
	return keys
}

// One transaction over n keys, each way a program empties or rewrites a
// big bucket, costs allocations linear in n at most (most cost none per
// key), and the file after a delete-all and a reload is no bigger than
// two loads' worth. Measured with 1M keys (-scale.deep), against
// bbolt where it differs: README, "Performance", at scale.
func TestScaleOneTransaction(t *testing.T) {
	n := scaleN()
	val := make([]byte, 100)
	for _, random := range []bool{false, true} {
		keys := scaleKeys(n, random)
		db := openTest(t, &Options{PageSize: 4096})
		load := func() {
			t.Helper()
			if err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				for _, k := range keys {
					if err := b.Put(k, val); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		update := func(what string, limit uint64, fn func(*Bucket) error) {
			t.Helper()
			got := scaleMallocs(func() {
				if err := db.Update(func(tx *Tx) error { return fn(tx.Bucket([]byte("b"))) }); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			})
			if got > limit {
				t.Errorf("random=%v: %s over %d keys: %d allocations, want at most %d", random, what, n, got, limit)
			}
		}
		if got := scaleMallocs(load); got > uint64(3*n) {
			t.Errorf("random=%v: load of %d keys: %d allocations", random, n, got)
		}
		loaded := fileSize(t, db.Path())

		update("Bucket.Delete of every key", uint64(n/8), func(b *Bucket) error {
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		load()
		update("Cursor.Delete then Next over every key", uint64(n/8), func(b *Bucket) error {
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			if k, _ := c.First(); k != nil {
				t.Errorf("random=%v: key %x left after a Cursor.Delete loop", random, k)
			}
			return nil
		})
		load()
		update("one key overwritten n times", uint64(2*n), func(b *Bucket) error {
			for i := 0; i < n; i++ {
				binary.BigEndian.PutUint64(val, uint64(i))
				if err := b.Put(keys[0], val); err != nil {
					return err
				}
			}
			return nil
		})
		update("NextSequence n times", 1000, func(b *Bucket) error {
			for i := 0; i < n; i++ {
				if _, err := b.NextSequence(); err != nil {
					return err
				}
			}
			return nil
		})
		if got := scaleMallocs(func() {
			if err := db.Update(func(tx *Tx) error { return tx.DeleteBucket([]byte("b")) }); err != nil {
				t.Fatal(err)
			}
		}); got > 1000 {
			t.Errorf("random=%v: DeleteBucket of %d keys: %d allocations", random, n, got)
		}
		load()
		if size := fileSize(t, db.Path()); size > 2*loaded {
			t.Errorf("random=%v: file %d bytes after deletes and reloads, %d after the first load", random, size, loaded)
		}
	}
}

// A rolled-back transaction of n puts gives its memory back, and a
// reader held while every key is rewritten holds one copy of the tree,
// not one per rewrite.
func TestScaleRollbackAndLongReader(t *testing.T) {
	n := scaleN()
	keys := scaleKeys(n, true)
	val := make([]byte, 100)
	db := openTest(t, &Options{PageSize: 4096})
	rewrite := func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put(k, val); err != nil {
				return err
			}
		}
		return nil
	}
	if err := db.Update(rewrite); err != nil {
		t.Fatal(err)
	}
	high := func() int64 {
		t.Helper()
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		return int64(in.HighPage)
	}
	loaded := high()

	before := heapAfterGC()
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := rewrite(tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The bound: the spare page buffers a DB keeps (maxSpareBufs pages)
	// and slack, far below the transaction's ~n*200 bytes.
	if after := heapAfterGC(); after > before+8<<20 {
		t.Errorf("heap %d bytes after a rolled-back transaction of %d puts, %d before", after, n, before)
	}

	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := db.Update(rewrite); err != nil {
			t.Fatal(err)
		}
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The reader's tree, the last commit's and the one being written
	// (each rewrite copies every page: 3x, measured), with some slack;
	// holding every rewrite would be 6x.
	if got := high(); got > loaded*7/2 {
		t.Errorf("high water mark page %d after 5 rewrites under one reader, %d before", got, loaded)
	}
}
