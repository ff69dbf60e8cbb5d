package folio

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
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

// bbolt's TestBucket_Stats_Small, _EmptyBucket, _Nested and _Large: the
// keys and buckets Bucket.Stats counts are bbolt's for the same contents.
// Page counts are not compared: folio has no inline buckets and packs
// pages its own way (BucketStats says so). Depth is the deepest single
// tree's (0 for an empty bucket, which has none), where bbolt's adds the
// depths of nested buckets and counts an empty one 1 (README, "The API").
func TestReview22BucketStatsCountsLikeBbolt(t *testing.T) {
	type shape struct {
		name  string
		depth int
		fill  func(put func(path []string, k, v []byte), mk func(path []string))
	}
	shapes := []shape{
		{"empty", 0, func(put func([]string, []byte, []byte), mk func([]string)) {
			mk([]string{"b"})
		}},
		{"small", 1, func(put func([]string, []byte, []byte), mk func([]string)) {
			mk([]string{"b"})
			put([]string{"b"}, []byte("foo"), []byte("bar"))
		}},
		{"nested", 1, func(put func([]string, []byte, []byte), mk func([]string)) {
			mk([]string{"b"})
			for i := 0; i < 100; i++ {
				put([]string{"b"}, []byte(fmt.Sprintf("%02d", i)), []byte(fmt.Sprintf("%02d", i)))
			}
			mk([]string{"b", "bar"})
			for i := 0; i < 10; i++ {
				put([]string{"b", "bar"}, []byte(fmt.Sprint(i)), []byte(fmt.Sprint(i)))
			}
			mk([]string{"b", "bar", "baz"})
			for i := 0; i < 10; i++ {
				put([]string{"b", "bar", "baz"}, []byte(fmt.Sprint(i)), []byte(fmt.Sprint(i)))
			}
			mk([]string{"b", "empty"})
		}},
		{"large", 3, func(put func([]string, []byte, []byte), mk func([]string)) {
			mk([]string{"b"})
			for i := 0; i < 20000; i++ {
				put([]string{"b"}, []byte(fmt.Sprintf("%08d", i*7919%20000)), make([]byte, 40))
			}
			mk([]string{"b", "sub"})
			for i := 0; i < 3000; i++ {
				put([]string{"b", "sub"}, []byte(fmt.Sprintf("%06d", i)), []byte("v"))
			}
		}},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			db := openTest(t, &Options{PageSize: 4096})
			bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, &bolt.Options{PageSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			defer bdb.Close()
			if err := db.Update(func(tx *Tx) error {
				return bdb.Update(func(btx *bolt.Tx) error {
					fb := func(path []string) *Bucket {
						b := tx.Bucket([]byte(path[0]))
						for _, n := range path[1:] {
							b = b.Bucket([]byte(n))
						}
						return b
					}
					bb := func(path []string) *bolt.Bucket {
						b := btx.Bucket([]byte(path[0]))
						for _, n := range path[1:] {
							b = b.Bucket([]byte(n))
						}
						return b
					}
					s.fill(func(path []string, k, v []byte) {
						if err := fb(path).Put(k, v); err != nil {
							t.Fatal(err)
						}
						if err := bb(path).Put(k, v); err != nil {
							t.Fatal(err)
						}
					}, func(path []string) {
						name, parent := []byte(path[len(path)-1]), path[:len(path)-1]
						var err, berr error
						if len(parent) == 0 {
							_, err = tx.CreateBucket(name)
							_, berr = btx.CreateBucket(name)
						} else {
							_, err = fb(parent).CreateBucket(name)
							_, berr = bb(parent).CreateBucket(name)
						}
						if err != nil || berr != nil {
							t.Fatal(err, berr)
						}
					})
					return nil
				})
			}); err != nil {
				t.Fatal(err)
			}
			var fs BucketStats
			var bs bolt.BucketStats
			if err := db.View(func(tx *Tx) error { fs = tx.Bucket([]byte("b")).Stats(); return nil }); err != nil {
				t.Fatal(err)
			}
			if err := bdb.View(func(tx *bolt.Tx) error { bs = tx.Bucket([]byte("b")).Stats(); return nil }); err != nil {
				t.Fatal(err)
			}
			if fs.KeyN != bs.KeyN || fs.BucketN != bs.BucketN {
				t.Errorf("KeyN %d BucketN %d; bbolt's %d %d", fs.KeyN, fs.BucketN, bs.KeyN, bs.BucketN)
			}
			if fs.Depth != s.depth {
				t.Errorf("Depth %d, want %d (bbolt's %d)", fs.Depth, s.depth, bs.Depth)
			}
		})
	}
}

// bbolt's tests, and bbolt programs, compare errors with ==
// (TestTx_CreateBucket_ErrBucketExists: err != bolt.ErrBucketExists). In
// folio an error that names its bucket, key or file is wrapped, so only
// errors.Is finds it: the comparisons below are false in folio, true in
// bbolt, and README says so where it says a program moves over by its
// import path. ErrTxClosed and ErrTxNotWritable come unwrapped, and ==
// still finds them.
func TestReview22ErrorsWrappedUnlikeBbolt(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[error]error{}
	if err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("sub")); err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		_, got[ErrBucketExists] = tx.CreateBucket([]byte("b"))
		_, got[ErrBucketNameRequired] = tx.CreateBucket(nil)
		got[ErrBucketNotFound] = tx.DeleteBucket([]byte("missing"))
		got[ErrKeyRequired] = b.Put(nil, []byte("v"))
		got[ErrKeyTooLarge] = b.Put(make([]byte, MaxKeySize+1), []byte("v"))
		got[ErrIncompatibleValue] = b.Put([]byte("sub"), []byte("v"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		got[ErrTxNotWritable] = tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	got[ErrTxClosed] = tx.Commit()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, got[ErrDatabaseNotOpen] = db.Begin(false)
	ro, err := Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_, got[ErrDatabaseReadOnly] = ro.Begin(true)
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	unwrapped := map[error]bool{ErrTxClosed: true, ErrTxNotWritable: true}
	for want, err := range got {
		if !errors.Is(err, want) {
			t.Errorf("%v: want errors.Is %v", err, want)
		} else if (err == want) != unwrapped[want] {
			t.Errorf("%v == %v is %v; README says %v", err, want, err == want, unwrapped[want])
		}
	}
}
