package folio

import (
	"fmt"
	"testing"
)

// Benchmarks of opening small buckets: an inline bucket's leaf is checked
// whole (page.CheckInlineLeaf) each time a transaction opens it, where a
// bucket on its own page gets a leaf page's read checks only. A read
// transaction remembers up to four top-level headers per snapshot
// (tx/snapshot.go, bucketSlots), so a top-level bucket opened again is
// not decoded at all; a nested bucket, or a fifth top-level one, is.

const (
	benchSmallKeys   = 10 // an inline leaf: 32 + 10*(8+16+16+32) = 752 bytes, under 4096/4
	benchSmallValLen = 32
	benchPadValLen   = 600 // with it the leaf passes a quarter page: a page of its own
)

// benchFillSmall puts the small bucket's keys into b and, for store=page,
// one more key sorting after them with a value that makes the leaf too
// large to stay inline. Get targets stay the same keys either way.
func benchFillSmall(b *Bucket, paged bool) error {
	var k [benchKeySize]byte
	val := make([]byte, benchSmallValLen)
	for i := 0; i < benchSmallKeys; i++ {
		benchKey(k[:], i, benchSmallKeys)
		if err := b.Put(k[:], val); err != nil {
			return err
		}
	}
	if paged {
		pad := []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
		return b.Put(pad, make([]byte, benchPadValLen))
	}
	return nil
}

// benchCheckInline fails tb unless the bucket is stored as asked.
func benchCheckInline(tb testing.TB, b *Bucket, paged bool) {
	tb.Helper()
	if got := b.Stats().InlineBucketN == 1; got == paged {
		tb.Fatalf("bucket inline = %v, want %v", got, !paged)
	}
}

// BenchmarkBucketOpenGet: a read transaction (View) opening one small
// bucket and getting one of its keys, the bucket stored inline or on a
// page of its own, at the top level or nested one level down.
func BenchmarkBucketOpenGet(b *testing.B) {
	for _, nest := range []string{"top", "nested"} {
		for _, store := range []string{"inline", "page"} {
			b.Run(fmt.Sprintf("bucket=%s/store=%s", nest, store), func(b *testing.B) {
				paged := store == "page"
				db := openTest(b, &Options{PageSize: 4096})
				outer, inner := []byte("outer"), []byte("small")
				mustUpdate(b, db, func(tx *Tx) error {
					if nest == "top" {
						bk, err := tx.CreateBucket(inner)
						if err != nil {
							return err
						}
						return benchFillSmall(bk, paged)
					}
					o, err := tx.CreateBucket(outer)
					if err != nil {
						return err
					}
					bk, err := o.CreateBucket(inner)
					if err != nil {
						return err
					}
					return benchFillSmall(bk, paged)
				})
				open := func(tx *Tx) *Bucket {
					if nest == "top" {
						return tx.Bucket(inner)
					}
					return tx.Bucket(outer).Bucket(inner)
				}
				if err := db.View(func(tx *Tx) error {
					benchCheckInline(b, open(tx), paged)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				keys := make([][]byte, benchSmallKeys)
				for i := range keys {
					keys[i] = make([]byte, benchKeySize)
					benchKey(keys[i], i, benchSmallKeys)
				}
				i := 0
				fn := func(tx *Tx) error {
					if open(tx).Get(keys[i%len(keys)]) == nil {
						return fmt.Errorf("key %x missing", keys[i%len(keys)])
					}
					return nil
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := db.View(fn); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkBucketOpenMany: one read transaction opening 1,000 small
// top-level buckets and getting a key from each, the case inline buckets
// are for (a page each would be 1,000 pages for 752 bytes each).
func BenchmarkBucketOpenMany(b *testing.B) {
	const n = 1000
	for _, store := range []string{"inline", "page"} {
		b.Run(fmt.Sprintf("buckets=1000/store=%s", store), func(b *testing.B) {
			paged := store == "page"
			db := openTest(b, &Options{PageSize: 4096})
			names := make([][]byte, n)
			for i := range names {
				names[i] = []byte(fmt.Sprintf("bucket-%04d", i))
			}
			mustUpdate(b, db, func(tx *Tx) error {
				for _, name := range names {
					bk, err := tx.CreateBucket(name)
					if err != nil {
						return err
					}
					if err := benchFillSmall(bk, paged); err != nil {
						return err
					}
				}
				return nil
			})
			if err := db.View(func(tx *Tx) error {
				benchCheckInline(b, tx.Bucket(names[n-1]), paged)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			keys := make([][]byte, benchSmallKeys)
			for i := range keys {
				keys[i] = make([]byte, benchKeySize)
				benchKey(keys[i], i, benchSmallKeys)
			}
			fn := func(tx *Tx) error {
				for i, name := range names {
					if tx.Bucket(name).Get(keys[i%len(keys)]) == nil {
						return fmt.Errorf("bucket %s: key missing", name)
					}
				}
				return nil
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := db.View(fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
