package folio

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestLargeValueMemoryLogged: in WAL mode, a commit that logs a large
// value allocates one copy more than TestLargeValueMemory's three (the
// Put's copy, the operations, the run) for an operations record (its
// compressed frame), and two for page images (the record's payload and
// its frame). What the README says a Put and commit costs. Measured with
// the collector off, as TestLargeValueMemory.
func TestLargeValueMemoryLogged(t *testing.T) {
	size := 16 << 20
	if lvShort() {
		size = 4 << 20
	}
	for _, tc := range []struct {
		name       string
		imageLimit int
		copies     float64
	}{
		{"operations", -1, 4},
		{"images", 64 << 20, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, &Options{PageSize: 4096, WAL: true, NoSync: true})
			db.WALImageLimit = tc.imageLimit
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			big := lvValue(size, 2)
			before, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("big"), big) })
			runtime.ReadMemStats(&m1)
			in, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			if in.LogBytes-before.LogBytes < int64(size) {
				t.Fatalf("the commit logged %d bytes: not the value", in.LogBytes-before.LogBytes)
			}
			copies := float64(m1.TotalAlloc-m0.TotalAlloc) / float64(size)
			t.Logf("a logged %s commit of %d bytes allocated %.2f copies", tc.name, size, copies)
			if copies > tc.copies+0.1 {
				t.Errorf("%s: %.2f copies, want at most %v", tc.name, copies, tc.copies)
			}
		})
	}
}
