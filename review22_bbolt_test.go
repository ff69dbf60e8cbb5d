package folio

import (
	"fmt"
	"testing"
)

// Behaviours bbolt's own test suite (go.etcd.io/bbolt v1.4.3: db_test.go,
// tx_test.go, bucket_test.go, cursor_test.go, movebucket_test.go) pins
// and a bbolt program may rely on, checked on folio. Each test names the
// bbolt test it follows.

// bbolt's TestCursor_RepeatOperations: a cursor walked to the end, past
// it, back to the start, past it, and forward again returns every key
// each way. The walk moves onto more leaves than the file has pages,
// which folio's guard against a hostile file's repeated children
// (TestDAGScan) took for damage: a healthy file gave ErrCorrupt ("leaves
// a scan reaches") and the walk stopped at a leaf's edge.
func TestReview22CursorRepeatOperations(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096})
	key := func(i int) []byte { return []byte(fmt.Sprintf("%05d", i)) }
	if err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		if err != nil {
			return err
		}
		for i := 0; i < 1000; i++ {
			if err := b.Put(key(i), key(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	expect := func(t *testing.T, what string, got []byte, want []byte) {
		t.Helper()
		if string(got) != string(want) || (got == nil) != (want == nil) {
			t.Fatalf("%s: %q, want %q", what, got, want)
		}
	}
	for _, writable := range []bool{false, true} {
		t.Run(fmt.Sprintf("writable=%v", writable), func(t *testing.T) {
			tx, err := db.Begin(writable)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			c := tx.Bucket([]byte("data")).Cursor()
			c.First()
			k, _ := c.Seek(key(2))
			expect(t, "seek", k, key(2))
			for i := 3; i < 1000; i++ {
				k, _ = c.Next()
				expect(t, "next", k, key(i))
			}
			for range 10 {
				k, _ = c.Next()
				expect(t, "next past the end", k, nil)
			}
			for i := 998; i >= 0; i-- {
				k, _ = c.Prev()
				expect(t, "prev", k, key(i))
			}
			for range 10 {
				k, _ = c.Prev()
				expect(t, "prev past the start", k, nil)
			}
			for i := 1; i < 1000; i++ {
				k, _ = c.Next()
				expect(t, "next again", k, key(i))
			}
			// Back and forth over one leaf edge, many times more than
			// the file has pages.
			k, _ = c.Seek(key(500))
			expect(t, "seek", k, key(500))
			for range 2000 {
				for i := 499; i >= 300; i-- {
					if k, _ = c.Prev(); string(k) != string(key(i)) {
						t.Fatalf("prev: %q, want %q (tx: %v)", k, key(i), tx.Err())
					}
				}
				for i := 301; i <= 500; i++ {
					if k, _ = c.Next(); string(k) != string(key(i)) {
						t.Fatalf("next: %q, want %q (tx: %v)", k, key(i), tx.Err())
					}
				}
			}
			if err := tx.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
