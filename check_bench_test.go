package folio

import (
	"testing"
)

// BenchmarkCheck times Tx.Check over a healthy bucket of n keys (4 KiB
// pages, 16-byte keys, 100-byte values): the walk that visits each page
// once (btree.PageSet) must cost little next to reading every page.
// The open that rebuilds the free list from the tree (NoFreelistSync)
// and Bucket.Stats walk the same way.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1e5, 1e6} {
		db := checkBenchDB(b, n)
		b.Run(sizeName(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tx, err := db.Begin(false)
				if err != nil {
					b.Fatal(err)
				}
				for err := range tx.Check() {
					b.Fatal(err)
				}
				if err := tx.Rollback(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stats/"+sizeName(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := db.View(func(tx *Tx) error {
					if tx.Bucket(benchBucket).Stats().KeyN < n {
						b.Fatal("key count")
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
		path := db.Path()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		// A commit without a persisted free list, so every open rebuilds it.
		db, err := Open(path, 0o600, &Options{NoFreelistSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Update(func(tx *Tx) error { return tx.Bucket(benchBucket).Put([]byte("x"), nil) }); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.Run("rebuild/"+sizeName(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				db, err := Open(path, 0o600, &Options{NoFreelistSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// checkBenchDB loads keys 0..n-1 in key order, 100,000 a transaction.
func checkBenchDB(b *testing.B, n int) *DB {
	b.Helper()
	db := openTest(b, &Options{NoSync: true})
	val := make([]byte, benchValSize)
	var k [benchKeySize]byte
	for start := 0; start < n; start += 1e5 {
		if err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists(benchBucket)
			if err != nil {
				return err
			}
			for i := start; i < min(start+1e5, n); i++ {
				benchKey(k[:], i, n)
				if err := bk.Put(k[:], val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	return db
}
