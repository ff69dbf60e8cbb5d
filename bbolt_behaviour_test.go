package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
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
func TestCursorRepeatOperations(t *testing.T) {
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
// keys, buckets and inline buckets Bucket.Stats counts are bbolt's for
// the same contents. Page counts are not compared: folio packs pages, and
// bounds an inline bucket, its own way (BucketStats says so). Depth is the deepest single
// tree's (0 for an empty bucket, which has none), where bbolt's adds the
// depths of nested buckets and counts an empty one 1 (README, "The API").
func TestBucketStatsCountsLikeBbolt(t *testing.T) {
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
			if fs.KeyN != bs.KeyN || fs.BucketN != bs.BucketN || fs.InlineBucketN != bs.InlineBucketN {
				t.Errorf("KeyN %d BucketN %d InlineBucketN %d; bbolt's %d %d %d", fs.KeyN, fs.BucketN, fs.InlineBucketN, bs.KeyN, bs.BucketN, bs.InlineBucketN)
			}
			if (fs.InlineBucketInuse == 0) != (bs.InlineBucketInuse == 0) && fs.InlineBucketN != fs.BucketN {
				t.Errorf("InlineBucketInuse %d; bbolt's %d", fs.InlineBucketInuse, bs.InlineBucketInuse)
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
// import path. ErrTxClosed, ErrTxNotWritable and ErrTxManaged, which
// name nothing but the transaction, come unwrapped, and == still finds
// them (ErrBatchGoexit too: tx's TestBatchGoexit).
func TestErrorsWrappedUnlikeBbolt(t *testing.T) {
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
		got[ErrTxManaged] = tx.Commit()
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
	unwrapped := map[error]bool{ErrTxClosed: true, ErrTxNotWritable: true, ErrTxManaged: true}
	for want, err := range got {
		if !errors.Is(err, want) {
			t.Errorf("%v: want errors.Is %v", err, want)
		} else if (err == want) != unwrapped[want] {
			t.Errorf("%v == %v is %v; README says %v", err, want, err == want, unwrapped[want])
		}
	}
}

// bbolt's TestTx_ID-style expectations and TestTx_CopyFile, TestTx_WriteTo:
// a read transaction's ID is the last commit's, a write transaction's
// the next one; WriteTo writes Size bytes and says so, and the copy opens
// with the same contents; a closed transaction's ID and Size do not
// panic. Each step is run on bbolt too.
func TestTxIDSizeWriteToLikeBbolt(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096})
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, &bolt.Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	ids := func() (fr, fw, br, bw int) {
		ftx, _ := db.Begin(false)
		btx, _ := bdb.Begin(false)
		fr, br = ftx.ID(), btx.ID()
		ftx.Rollback()
		btx.Rollback()
		ftx, _ = db.Begin(true)
		btx, _ = bdb.Begin(true)
		fw, bw = ftx.ID(), btx.ID()
		ftx.Rollback()
		btx.Rollback()
		return
	}
	fr0, fw0, br0, bw0 := ids()
	if fw0 != fr0+1 || bw0 != br0+1 {
		t.Fatalf("fresh: read/write IDs folio %d/%d, bbolt %d/%d", fr0, fw0, br0, bw0)
	}
	for i := 0; i < 3; i++ {
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprint(i)), make([]byte, 3000))
		}); err != nil {
			t.Fatal(err)
		}
		if err := bdb.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprint(i)), make([]byte, 3000))
		}); err != nil {
			t.Fatal(err)
		}
	}
	fr, fw, br, bw := ids()
	if fr-fr0 != br-br0 || fw != fr+1 || bw != br+1 {
		t.Errorf("after 3 commits: read/write IDs folio %d/%d (from %d), bbolt %d/%d (from %d)", fr, fw, fr0, br, bw, br0)
	}
	for _, writable := range []bool{false, true} {
		tx, err := db.Begin(writable)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		n, err := tx.WriteTo(&buf)
		if err != nil || n != tx.Size() || int64(buf.Len()) != n {
			t.Errorf("writable=%v: WriteTo = %d, %v; wrote %d; Size %d", writable, n, err, buf.Len(), tx.Size())
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		tx.ID()
		tx.Size()
		path := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		cp, err := Open(path, 0o600, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.View(func(tx *Tx) error {
			n := 0
			err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
				if len(v) != 3000 {
					t.Errorf("copy: %q holds %d bytes", k, len(v))
				}
				n++
				return nil
			})
			if n != 3 {
				t.Errorf("copy: %d keys, want 3", n)
			}
			return err
		}); err != nil {
			t.Error(err)
		}
		cp.Close()
	}
	btx, _ := bdb.Begin(false)
	var bbuf bytes.Buffer
	if n, err := btx.WriteTo(&bbuf); err != nil || n != btx.Size() {
		t.Errorf("bbolt: WriteTo = %d, %v; Size %d", n, err, btx.Size())
	}
	btx.Rollback()
}

// bbolt's TestTx_OnCommit and TestTx_OnCommit_Rollback: handlers run
// after a commit, in the order registered, seeing the committed state
// from a new transaction; a rollback or a failed Update runs none. The
// same on bbolt.
func TestOnCommitLikeBbolt(t *testing.T) {
	db := openTest(t, nil)
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var folio, bbolt []string
	fail := errors.New("fail")
	for _, round := range []struct {
		name string
		err  error
	}{{"commit", nil}, {"error", fail}} {
		ferr := db.Update(func(tx *Tx) error {
			for i := range 3 {
				tx.OnCommit(func() {
					v := "missing"
					db.View(func(tx *Tx) error {
						if b := tx.Bucket([]byte(round.name)); b != nil {
							v = string(b.Get([]byte("k")))
						}
						return nil
					})
					folio = append(folio, fmt.Sprintf("%s %d %s", round.name, i, v))
				})
			}
			b, err := tx.CreateBucket([]byte(round.name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			return round.err
		})
		berr := bdb.Update(func(tx *bolt.Tx) error {
			for i := range 3 {
				tx.OnCommit(func() {
					v := "missing"
					bdb.View(func(tx *bolt.Tx) error {
						if b := tx.Bucket([]byte(round.name)); b != nil {
							v = string(b.Get([]byte("k")))
						}
						return nil
					})
					bbolt = append(bbolt, fmt.Sprintf("%s %d %s", round.name, i, v))
				})
			}
			b, err := tx.CreateBucket([]byte(round.name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			return round.err
		})
		if ferr != round.err || berr != round.err {
			t.Errorf("%s: Update = %v, bbolt's %v", round.name, ferr, berr)
		}
	}
	ftx, _ := db.Begin(true)
	ftx.OnCommit(func() { folio = append(folio, "rolled back") })
	ftx.Rollback()
	btx, _ := bdb.Begin(true)
	btx.OnCommit(func() { bbolt = append(bbolt, "rolled back") })
	btx.Rollback()
	want := []string{"commit 0 v", "commit 1 v", "commit 2 v"}
	if fmt.Sprint(folio) != fmt.Sprint(want) || fmt.Sprint(bbolt) != fmt.Sprint(want) {
		t.Errorf("handlers ran: folio %q, bbolt %q; want %q", folio, bbolt, want)
	}
}

// bbolt's TestDB_Stats and TestDB_BeginRW: Stats' OpenTxN counts the
// read transactions open and TxN the read transactions, as bbolt's
// (bbolt counts one at its start, folio at its end: README); a second
// Begin(true) waits for the first writer and then sees its commit.
func TestStatsAndSecondWriterLikeBbolt(t *testing.T) {
	db := openTest(t, nil)
	before := db.Stats()
	r1, _ := db.Begin(false)
	r2, _ := db.Begin(false)
	if s := db.Stats(); s.OpenTxN != 2 {
		t.Errorf("two readers open: OpenTxN %d", s.OpenTxN)
	}
	r1.Rollback()
	r2.Rollback()
	if s := db.Stats(); s.OpenTxN != 0 || s.TxN-before.TxN != 2 {
		t.Errorf("both ended: OpenTxN %d, TxN %d more", s.OpenTxN, s.TxN-before.TxN)
	}

	w1, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Rollback() // after a Fatal, for the Close of cleanup
	got := make(chan []byte, 1)
	go func() {
		w2, err := db.Begin(true)
		if err != nil {
			got <- []byte(err.Error())
			return
		}
		defer w2.Rollback()
		if b := w2.Bucket([]byte("b")); b != nil {
			got <- b.Get([]byte("k"))
			return
		}
		got <- []byte("no bucket")
	}()
	b, err := w1.CreateBucket([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("k"), []byte("first writer")); err != nil {
		t.Fatal(err)
	}
	if err := w1.Commit(); err != nil {
		t.Fatal(err)
	}
	if v := <-got; string(v) != "first writer" {
		t.Errorf("second writer saw %q: it did not wait for the first", v)
	}
}

// bbolt's TestIssue72 (tests/failpoint): a key buffer the caller changes
// once Put returned must not change the stored key, nor a bucket name
// once CreateBucket returned; bbolt 1.4 clones them. Checked across
// splits and the commit, with the buffers reused for every call.
func TestCallerBuffersReused(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096})
	key, name := make([]byte, 8), make([]byte, 4)
	if err := db.Update(func(tx *Tx) error {
		copy(name, "top1")
		top, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		copy(name, "sub1")
		if _, err := top.CreateBucket(name); err != nil {
			return err
		}
		copy(name, "zzzz")
		for i := 0; i < 2000; i++ {
			copy(key, fmt.Sprintf("%08d", i))
			if err := top.Put(key, key); err != nil {
				return err
			}
			copy(key, "XXXXXXXX")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		top := tx.Bucket([]byte("top1"))
		if top == nil || top.Bucket([]byte("sub1")) == nil {
			t.Fatalf("bucket names changed with the caller's buffer")
		}
		i := 0
		c := top.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				continue // sub1
			}
			if want := fmt.Sprintf("%08d", i); string(k) != want || string(v) != want {
				t.Fatalf("element %d: %q = %q, want %q", i, k, v, want)
			}
			i++
		}
		if i != 2000 {
			t.Errorf("%d keys, want 2000", i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// bbolt's TestFailpoint_LackOfDiskSpace and TestTx_Rollback_Freelist
// (tests/failpoint): a commit that fails to grow the file returns the
// error, a Rollback after it ErrTxClosed, nothing of it is visible, and
// the database takes the next commits, its free pages intact. folio's
// MaxSize makes the growth fail.
func TestFailedCommitThenMore(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			db := openTest(t, &Options{PageSize: 4096, MaxSize: 1 << 20, WAL: wal})
			val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1500) }
			if err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("data"))
				if err != nil {
					return err
				}
				for i := 0; i <= 10; i++ {
					if err := b.Put([]byte(fmt.Sprintf("k%02d", i)), val(i)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *Tx) error {
				for i := 0; i < 6; i++ {
					if err := tx.Bucket([]byte("data")).Delete([]byte(fmt.Sprintf("k%02d", i))); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			before := db.Stats()
			tx, err := db.Begin(true)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback() // after a Fatal, for the Close of cleanup
			b := tx.Bucket([]byte("data"))
			for i := 6; i <= 10; i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%02d", i)), val(100+i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Put([]byte("big"), make([]byte, 2<<20)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); !errors.Is(err, ErrMaxSizeReached) {
				t.Fatalf("commit past MaxSize: %v", err)
			}
			if err := tx.Rollback(); !errors.Is(err, ErrTxClosed) {
				t.Errorf("Rollback after a failed Commit: %v, want ErrTxClosed", err)
			}
			if s := db.Stats(); s.FreePageN+s.PendingPageN != before.FreePageN+before.PendingPageN {
				t.Errorf("free pages %d+%d after the failed commit, %d+%d before", s.FreePageN, s.PendingPageN, before.FreePageN, before.PendingPageN)
			}
			check := func(when string, want func(i int) []byte) {
				t.Helper()
				if err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("data"))
					if b.Get([]byte("big")) != nil {
						t.Errorf("%s: the failed commit's key is visible", when)
					}
					for i := 6; i <= 10; i++ {
						if v := b.Get([]byte(fmt.Sprintf("k%02d", i))); !bytes.Equal(v, want(i)) {
							t.Errorf("%s: k%02d holds %d bytes of %v", when, i, len(v), v[:min(len(v), 1)])
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			check("after the failed commit", val)
			if err := db.Update(func(tx *Tx) error {
				for i := 6; i <= 10; i++ {
					if err := tx.Bucket([]byte("data")).Put([]byte(fmt.Sprintf("k%02d", i)), val(200+i)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatalf("commit after the failed one: %v", err)
			}
			check("after the next commit", func(i int) []byte { return val(200 + i) })
			mustCheck(t, db)
			db = reopen(t, db, &Options{WAL: wal})
			check("reopened", func(i int) []byte { return val(200 + i) })
		})
	}
}

// bbolt's TestDB_Open_ReadOnly_NoCreate: a read-only Open of a missing
// file is os.ErrNotExist and creates nothing (folio puts no log directory
// there either, WAL or not); of an empty file, an error (ErrInvalid in
// folio, README), and the file stays empty, where a read-write Open
// would make it a database.
func TestOpenReadOnlyMissingOrEmpty(t *testing.T) {
	for _, wal := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "db")
		_, err := Open(path, 0o600, &Options{ReadOnly: true, WAL: wal})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("wal=%v: read-only Open of a missing file: %v", wal, err)
		}
		if _, berr := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true}); !errors.Is(berr, os.ErrNotExist) {
			t.Errorf("bbolt: %v", berr)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("wal=%v: read-only Open of a missing file left %v", wal, ents)
		}
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = Open(path, 0o600, &Options{ReadOnly: true, WAL: wal})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("wal=%v: read-only Open of an empty file: %v", wal, err)
		}
		if _, berr := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true}); berr == nil {
			t.Errorf("bbolt opened an empty file read-only")
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Errorf("wal=%v: the empty file after read-only Opens: %v, %v", wal, fi, err)
		}
	}
}

// Long random cursor walks (First, Last, Next, Prev, Seek, runs of Next
// or Prev past either end) on folio and bbolt side by side, over the same
// bucket: committed, in a read and a write transaction, and in a write
// transaction that changed some leaves before the cursor was made. Every
// key and value returned must be bbolt's. TestCursorRepeatOperations
// is one such walk; this runs many, each far longer than the file has
// pages, as a cursor a program keeps for paging would.
// With VerifyChecksums the cursor also checks key order where leaves
// meet, another guard a healthy walk must never trip.
func TestCursorRandomMovesLikeBbolt(t *testing.T) {
	seed := testSeed(t)
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) {
			cursorRandomMoves(t, rand.New(rand.NewPCG(seed, 22)), verify)
		})
	}
}

func cursorRandomMoves(t *testing.T, r *rand.Rand, verify bool) {
	db := openTest(t, &Options{PageSize: 4096, VerifyChecksums: verify})
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, &bolt.Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	const n = 3000
	key := func(i int) []byte { return []byte(fmt.Sprintf("%06d", i*2)) }
	fill := func(put func(k, v []byte) error, mk func(k []byte) error) error {
		for i := 0; i < n; i++ {
			if i%500 == 7 {
				if err := mk(key(i)); err != nil {
					return err
				}
				continue
			}
			if err := put(key(i), bytes.Repeat(key(i), 1+i%5)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return fill(b.Put, func(k []byte) error { _, err := b.CreateBucket(k); return err })
	}); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return fill(b.Put, func(k []byte) error { _, err := b.CreateBucket(k); return err })
	}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"read", "write", "changed"} {
		ftx, err := db.Begin(mode != "read")
		if err != nil {
			t.Fatal(err)
		}
		btx, err := bdb.Begin(mode != "read")
		if err != nil {
			t.Fatal(err)
		}
		// A Fatalf with either open would hang the Close of cleanup.
		defer ftx.Rollback()
		defer btx.Rollback()
		fb, bb := ftx.Bucket([]byte("b")), btx.Bucket([]byte("b"))
		if mode == "changed" {
			// Materialise some leaves: change values in place (no key
			// comes or goes, so both cursors see the same keys).
			for i := 0; i < n; i += 97 {
				if i%500 == 7 {
					continue
				}
				if err := fb.Put(key(i), []byte("changed")); err != nil {
					t.Fatal(err)
				}
				if err := bb.Put(key(i), []byte("changed")); err != nil {
					t.Fatal(err)
				}
			}
		}
		fc, bc := fb.Cursor(), bb.Cursor()
		var log []string
		for step := 0; step < 1500; step++ {
			// Mostly runs of Next or Prev, a leaf or more long, with a
			// rare repositioning: a cursor paging back and forth.
			op, times := "Next", 1+r.IntN(400)
			switch x := r.IntN(100); {
			case x < 2:
				op, times = "First", 1
			case x < 4:
				op, times = "Last", 1
			case x < 6:
				op, times = fmt.Sprintf("Seek(%06d)", r.IntN(2*n+2)), 1
			case x < 53:
				op = "Prev"
			}
			log = append(log, fmt.Sprintf("%s x%d", op, times))
			if len(log) > 8 {
				log = log[1:]
			}
			for j := 0; j < times; j++ {
				var fk, fv, bk, bv []byte
				switch op {
				case "First":
					fk, fv = fc.First()
					bk, bv = bc.First()
				case "Last":
					fk, fv = fc.Last()
					bk, bv = bc.Last()
				case "Next":
					fk, fv = fc.Next()
					bk, bv = bc.Next()
				case "Prev":
					fk, fv = fc.Prev()
					bk, bv = bc.Prev()
				default:
					seek := []byte(op[5:11])
					fk, fv = fc.Seek(seek)
					bk, bv = bc.Seek(seek)
				}
				if !bytes.Equal(fk, bk) || !bytes.Equal(fv, bv) || (fv == nil) != (bv == nil) {
					t.Fatalf("%s step %d, move %d: %q=%q, bbolt's %q=%q (moves %v; tx: %v)", mode, step, j, fk, fv, bk, bv, log, ftx.Err())
				}
			}
		}
		if err := ftx.Err(); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		ftx.Rollback()
		btx.Rollback()
	}
}

// bbolt's TestOpen_FileTooSmall: a database cut short of its meta pages
// fails Open (bbolt: "file size too small"); folio's error is ErrCorrupt
// naming the page, both ways, and ErrInvalid for a file too short for two
// of the smallest meta pages (README's rows). Cut inside its first page,
// the error said meta page 0's size (4096) was no power of two from 1 KiB
// to 64 KiB; it now says the file is shorter than the page.
func TestOpenFileTooSmall(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{4096, 2048, 2047} {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{false, true} {
			_, err := Open(path, 0o600, &Options{ReadOnly: ro})
			var ce *CorruptError
			switch {
			case size < 2048:
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("size %d, read-only %v: %v; want ErrInvalid", size, ro, err)
				}
			case !errors.As(err, &ce) || ce.Page != page.ID(size/4096):
				t.Errorf("size %d, read-only %v: %v; want ErrCorrupt naming page %d", size, ro, err, size/4096)
			case size < 4096 && !strings.Contains(err.Error(), "truncated?"):
				t.Errorf("size %d, read-only %v: %v; want it to say the file is cut short", size, ro, err)
			}
		}
	}
}
