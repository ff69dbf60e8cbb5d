package folio

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestReadPathAllocs pins the read path at zero allocations: a read
// transaction's begin and end (View), Get, Seek and Next.
func TestReadPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	db := openTest(t, &Options{PageSize: 4096, NoSync: true})
	if err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 10000; i++ {
			if err := b.Put([]byte(fmt.Sprintf("key%06d", i)), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	key := []byte("key004242")
	fn := func(tx *Tx) error { return nil }
	if n := testing.AllocsPerRun(100, func() { _ = db.View(fn) }); n != 0 {
		t.Errorf("View (begin+end of a read tx): %v allocs, want 0", n)
	}
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	b := tx.Bucket([]byte("b"))
	if n := testing.AllocsPerRun(100, func() {
		if b.Get(key) == nil {
			t.Fatal("missing key")
		}
	}); n != 0 {
		t.Errorf("Get: %v allocs, want 0", n)
	}
	c := b.Cursor()
	if n := testing.AllocsPerRun(100, func() {
		k, _ := c.Seek(key)
		for i := 0; i < 100 && k != nil; i++ {
			k, _ = c.Next()
		}
	}); n != 0 {
		t.Errorf("Seek+Next: %v allocs, want 0", n)
	}
}

// TestViewBucketGetAllocs: a whole read transaction doing one Get, as a
// cache lookup does, allocates nothing once warm.
func TestViewBucketGetAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	db := openTest(t, nil)
	mustCreatePut(t, db, "cache", "k", "v")
	fn := func(tx *Tx) error {
		if tx.Bucket([]byte("cache")).Get([]byte("k")) == nil {
			t.Fatal("missing")
		}
		return nil
	}
	if n := testing.AllocsPerRun(100, func() { _ = db.View(fn) }); n != 0 {
		t.Errorf("View + Bucket + Get: %v allocs, want 0", n)
	}
	// The first View on each new snapshot remembers the bucket's header
	// in it (snapshot.buckets); that must not allocate either. Meanwhile
	// the collector is off and one P runs: a collection may empty the Tx
	// pool, and a goroutine that moved to another P finds that P's pool
	// empty; either way the View then allocates a Tx, its bucket and a
	// pool slot (7 allocations; with those allowed for, this failed 1 run
	// in 6).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var mallocs uint64
	for i := range 20 {
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.Bucket([]byte("cache")).Put([]byte(fmt.Sprint("k", i)), []byte("v"))
		})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = db.View(fn)
		runtime.ReadMemStats(&after)
		if d := after.Mallocs - before.Mallocs; d > 0 {
			t.Logf("snapshot %d: %d allocs", i, d)
		}
		mallocs += after.Mallocs - before.Mallocs
	}
	if mallocs != 0 {
		t.Errorf("the first View + Bucket + Get on each of 20 new snapshots: %d allocs in all, want 0", mallocs)
	}
}

// TestViewNestedBucketAllocs: a View opening a nested bucket, names of
// more than a byte (Go interns one-byte strings), and getting a key
// allocates nothing once warm: the pooled Tx's spare handles are reused
// in the order they were opened, each keeping its name.
func TestViewNestedBucketAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		o, err := tx.CreateBucket([]byte("outer"))
		if err != nil {
			return err
		}
		b, err := o.CreateBucket([]byte("inner"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	fn := func(tx *Tx) error {
		if tx.Bucket([]byte("outer")).Bucket([]byte("inner")).Get([]byte("k")) == nil {
			t.Fatal("missing")
		}
		return nil
	}
	if n := testing.AllocsPerRun(100, func() { _ = db.View(fn) }); n != 0 {
		t.Errorf("View + Bucket + Bucket + Get: %v allocs, want 0", n)
	}
}

// TestViewBucketHandleBytes: a read transaction keeps every bucket it
// opens (README, "At scale"), so a handle's size is what a View over many
// buckets costs. A tree's write state (the last path, the arena, the
// split scratch) is made by its first write: a View here allocates ~440
// bytes a bucket opened, against ~1,000 when every handle carried it.
// Cursors and nested buckets read, as Get does, without making it.
func TestViewBucketHandleBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	const n = 2000
	db := openTest(t, &Options{PageSize: 4096, NoSync: true})
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range n {
			b, err := tx.CreateBucket(fmt.Appendf(nil, "bucket-%05d", i))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			if i%2 == 0 { // some nested, some paged
				nb, err := b.CreateBucket([]byte("nested"))
				if err != nil {
					return err
				}
				if err := nb.Put([]byte("k"), make([]byte, 2000)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	fn := func(tx *Tx) error {
		for i := range n {
			b := tx.Bucket(fmt.Appendf(nil, "bucket-%05d", i))
			if b.Get([]byte("k")) == nil {
				return fmt.Errorf("bucket %d: k missing", i)
			}
			c := b.Cursor()
			if k, _ := c.First(); k == nil {
				return fmt.Errorf("bucket %d: First found nothing", i)
			}
			c.Seek([]byte("j"))
			c.Next()
			c.Last()
			c.Prev()
			if nb := b.Bucket([]byte("nested")); nb != nil && nb.Get([]byte("k")) == nil {
				return fmt.Errorf("bucket %d: nested k missing", i)
			}
		}
		return nil
	}
	if err := db.View(fn); err != nil { // warm the pools
		t.Fatal(err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const views = 5
	for range views {
		if err := db.View(fn); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// 1.5 handles a top-level bucket (half have a nested one open); the
	// keys the loop formats are 16 bytes each.
	perBucket := float64(after.TotalAlloc-before.TotalAlloc) / views / (n * 1.5)
	if perBucket > 520 {
		t.Errorf("a View allocated %.0f bytes a bucket it opened, want at most 520 (no write state)", perBucket)
	} else {
		t.Logf("%.0f bytes a bucket", perBucket)
	}
}

// TestGetAllocsInWriteTx: Bucket.Get does not allocate in a write
// transaction either, as its comment says: over committed pages, over
// pages the transaction changed, for a large value and a missing key.
func TestGetAllocsInWriteTx(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 500 {
			if err := b.Put(fmt.Appendf(nil, "k%04d", i), make([]byte, 30)); err != nil {
				return err
			}
		}
		return b.Put([]byte("large"), make([]byte, 100_000))
	})
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Put([]byte("k0100"), []byte("changed")); err != nil {
			return err
		}
		if err := b.Put([]byte("large2"), make([]byte, 90_000)); err != nil {
			return err
		}
		for _, k := range []string{"k0100", "k0400", "large", "large2", "missing"} {
			key := []byte(k)
			if n := testing.AllocsPerRun(50, func() { _ = b.Get(key) }); n != 0 {
				t.Errorf("Get(%s) in a write transaction: %v allocs, want 0", k, n)
			}
		}
		return nil
	})
}
