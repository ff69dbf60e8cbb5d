package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

func mustUpdate(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestMisuseErrors(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("nested")); err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	cases := []struct {
		name string
		fn   func(tx *Tx) error
		want error
	}{
		{"empty key", func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(nil, []byte("v")) }, ErrKeyRequired},
		{"key too large", func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(make([]byte, MaxKeySize+1), nil) }, ErrKeyTooLarge},
		{"bucket name required", func(tx *Tx) error { _, err := tx.CreateBucket(nil); return err }, ErrBucketNameRequired},
		{"bucket exists", func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }, ErrBucketExists},
		{"bucket over value", func(tx *Tx) error { _, err := tx.Bucket([]byte("b")).CreateBucket([]byte("k")); return err }, ErrIncompatibleValue},
		{"put over bucket", func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("nested"), []byte("x")) }, ErrIncompatibleValue},
		{"delete a bucket as a key", func(tx *Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("nested")) }, ErrIncompatibleValue},
		{"delete a value as a bucket", func(tx *Tx) error { return tx.Bucket([]byte("b")).DeleteBucket([]byte("k")) }, ErrIncompatibleValue},
		{"delete missing bucket", func(tx *Tx) error { return tx.DeleteBucket([]byte("nope")) }, ErrBucketNotFound},
		{"commit inside Update", func(tx *Tx) error { return tx.Commit() }, ErrTxManaged},
		{"rollback inside Update", func(tx *Tx) error { return tx.Rollback() }, ErrTxManaged},
		// The root bucket (from a top-level cursor) holds only buckets: a
		// plain key there was accepted, and Check then called the file
		// corrupt (found by review).
		{"put a plain key at the top level", func(tx *Tx) error { return tx.Cursor().Bucket().Put([]byte("plain"), []byte("v")) }, ErrIncompatibleValue},
		{"delete a plain key at the top level", func(tx *Tx) error { return tx.Cursor().Bucket().Delete([]byte("b")) }, ErrIncompatibleValue},
		{"move to the same bucket", func(tx *Tx) error { return tx.MoveBucket([]byte("b"), nil, nil) }, ErrSameBuckets},
		{"move into its own child", func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			return tx.MoveBucket([]byte("b"), nil, b.Bucket([]byte("nested")))
		}, ErrSameBuckets},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := db.Update(c.fn)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Writes in a read transaction.
	err := db.View(func(tx *Tx) error {
		if err := tx.Bucket([]byte("b")).Put([]byte("x"), nil); !errors.Is(err, ErrTxNotWritable) {
			return fmt.Errorf("put in read tx: %v", err)
		}
		if _, err := tx.CreateBucket([]byte("x")); !errors.Is(err, ErrTxNotWritable) {
			return fmt.Errorf("create in read tx: %v", err)
		}
		if err := tx.Bucket([]byte("b")).Cursor().Delete(); !errors.Is(err, ErrTxNotWritable) {
			return fmt.Errorf("cursor delete in read tx: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Use after the end.
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	b := tx.Bucket([]byte("b"))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, ErrTxClosed) {
		t.Fatalf("second commit: %v", err)
	}
	if err := tx.Rollback(); !errors.Is(err, ErrTxClosed) {
		t.Fatalf("rollback after commit: %v", err)
	}
	if err := b.Put([]byte("x"), nil); !errors.Is(err, ErrTxClosed) {
		t.Fatalf("put after commit: %v", err)
	}
	if v := b.Get([]byte("k")); v != nil {
		t.Fatalf("get after commit = %q", v)
	}
	rtx, _ := db.Begin(false)
	if err := rtx.Commit(); !errors.Is(err, ErrTxNotWritable) {
		t.Fatalf("commit of a read tx: %v", err)
	}
	_ = rtx.Rollback()
}

func TestBboltSemantics(t *testing.T) {
	db := openTest(t, nil)
	val := []byte("original")
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		if _, err := b.CreateBucket([]byte("sub")); err != nil {
			return err
		}
		if err := b.Put([]byte("k"), val); err != nil {
			return err
		}
		copy(val, "CHANGED!") // Put copied the value: the stored one must not change
		if s, _ := b.NextSequence(); s != 1 {
			return fmt.Errorf("first NextSequence = %d", s)
		}
		if got := b.Get([]byte("k")); string(got) != "original" {
			return fmt.Errorf("value changed with the caller's buffer: %q", got)
		}
		return b.Put([]byte("empty"), []byte{})
	})
	// A reader does not see a later commit.
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("later"), []byte("x")) })
	if v := rtx.Bucket([]byte("b")).Get([]byte("later")); v != nil {
		t.Fatalf("reader saw a later commit: %q", v)
	}
	_ = rtx.Rollback()

	db = reopen(t, db, nil)
	err = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("sub")); v != nil {
			return fmt.Errorf("Get of a nested bucket key = %q, want nil", v)
		}
		if v := b.Get([]byte("missing")); v != nil {
			return fmt.Errorf("Get of a missing key = %q", v)
		}
		if v := b.Get([]byte("empty")); v == nil || len(v) != 0 {
			return fmt.Errorf("Get of an empty value = %v, want non-nil empty", v)
		}
		if b.Sequence() != 1 {
			return fmt.Errorf("sequence after reopen = %d", b.Sequence())
		}
		c := b.Cursor()
		if k, v := c.Seek([]byte("l")); string(k) != "later" || string(v) != "x" {
			return fmt.Errorf("Seek(l) = %q", k)
		}
		if k, v := c.Seek([]byte("s")); string(k) != "sub" || v != nil {
			return fmt.Errorf("Seek(s) = %q, %q; want sub with nil value", k, v)
		}
		if c.Bucket() != b {
			return errors.New("Cursor.Bucket")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// NextSequence keeps counting after a reopen.
	mustUpdate(t, db, func(tx *Tx) error {
		if s, _ := tx.Bucket([]byte("b")).NextSequence(); s != 2 {
			return fmt.Errorf("NextSequence after reopen = %d", s)
		}
		return nil
	})
}

func TestCursorDeleteNextSkipsNothing(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		for i := 0; i < 1000; i++ {
			if err := b.Put([]byte(fmt.Sprintf("%04d", i)), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		seen := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if want := fmt.Sprintf("%04d", seen); string(k) != want {
				return fmt.Errorf("visited %s, want %s", k, want)
			}
			if err := c.Delete(); err != nil {
				return err
			}
			seen++
		}
		if seen != 1000 {
			return fmt.Errorf("visited %d keys, want 1000", seen)
		}
		return nil
	})
	// The bucket gave all its pages back.
	err := db.View(func(tx *Tx) error {
		if s := tx.Bucket([]byte("b")).Stats(); s.LeafPageN+s.BranchPageN != 0 || s.KeyN != 0 {
			return fmt.Errorf("empty bucket keeps pages: %+v", s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMoveBucket(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		a, _ := tx.CreateBucket([]byte("a"))
		dst, _ := tx.CreateBucket([]byte("dst"))
		s, _ := a.CreateBucket([]byte("s"))
		_ = s.SetSequence(41)
		_ = s.Put([]byte("k"), []byte("v"))
		if err := tx.MoveBucket([]byte("s"), a, dst); err != nil {
			return err
		}
		if a.Bucket([]byte("s")) != nil {
			return errors.New("source still has the bucket")
		}
		return nil
	})
	err := db.Update(func(tx *Tx) error {
		dst := tx.Bucket([]byte("dst"))
		return tx.MoveBucket([]byte("s"), dst, dst.Bucket([]byte("s")))
	})
	if !errors.Is(err, ErrSameBuckets) {
		t.Fatalf("move into itself: %v", err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		return tx.MoveBucket([]byte("s"), tx.Bucket([]byte("dst")), nil)
	})
	db = reopen(t, db, nil)
	err = db.View(func(tx *Tx) error {
		s := tx.Bucket([]byte("s"))
		if s == nil || string(s.Get([]byte("k"))) != "v" || s.Sequence() != 41 {
			return errors.New("moved bucket lost its contents or sequence")
		}
		if tx.Bucket([]byte("dst")).Bucket([]byte("s")) != nil || tx.Bucket([]byte("a")).Bucket([]byte("s")) != nil {
			return errors.New("bucket still at its old place")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(i*7 + i/251)
	}
	newer := newerVersionImage(t)
	cases := []struct {
		name string
		path string
		want error
	}{
		{"random bytes", write("random", random), ErrInvalid},
		{"text file", write("text", bytes.Repeat([]byte("hello, world\n"), 1000)), ErrInvalid},
		{"too short", write("short", []byte("x")), ErrInvalid},
		{"newer version", write("newer", newer), ErrVersionMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := Open(c.path, 0o600, &Options{Timeout: time.Second})
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A truncated database.
	p := tempPath(t)
	db, err := Open(p, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		for i := 0; i < 5000; i++ {
			_ = b.Put([]byte(fmt.Sprint(i)), bytes.Repeat([]byte("v"), 50))
		}
		return nil
	})
	info, _ := db.Info()
	db.Close()
	if err := os.Truncate(p, int64(info.HighPage/2)*1024); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(p, 0o600, nil); err == nil {
		db.Close()
		t.Fatal("opened a truncated database")
	} else if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: %v, want ErrCorrupt", err)
	}
}

// newerVersionImage is an empty database whose metas claim version 99.
func newerVersionImage(t *testing.T) []byte {
	p := tempPath(t)
	db, err := Open(p, 0o600, &Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	img, _ := os.ReadFile(p)
	for slot := 0; slot < 2; slot++ {
		pg := img[slot*4096 : (slot+1)*4096]
		pg[page.HeaderSize+4] = 99
		page.Seal(pg)
	}
	return img
}

func TestLockAndReadOnly(t *testing.T) {
	p := tempPath(t)
	db, err := Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	start := time.Now()
	if _, err := Open(p, 0o600, &Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second read-write open: %v, want ErrTimeout", err)
	}
	if _, err := Open(p, 0o600, &Options{ReadOnly: true, Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("read-only open beside a writer: %v, want ErrTimeout", err)
	}
	if time.Since(start) > 60*time.Second {
		t.Fatal("timeouts not honoured")
	}
	db.Close()
	ro1, err := Open(p, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro1.Close()
	ro2, err := Open(p, 0o600, &Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("two read-only opens: %v", err)
	}
	defer ro2.Close()
	if !ro1.IsReadOnly() {
		t.Fatal("IsReadOnly")
	}
	if err := ro1.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrDatabaseReadOnly) {
		t.Fatalf("update on read-only: %v", err)
	}
	if err := ro1.View(func(tx *Tx) error {
		if tx.Bucket([]byte("b")) == nil {
			return errors.New("bucket missing")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ro2.Close()
	if err := ro2.View(func(*Tx) error { return nil }); !errors.Is(err, ErrDatabaseNotOpen) {
		t.Fatalf("view after close: %v", err)
	}
	if _, err := Open(tempPath(t)+"-missing", 0o600, &Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open created a file")
	}
}

func TestLargeValue64MiB(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096, NoSync: true})
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i>>12) ^ byte(i)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		if err := b.Put([]byte("big"), big); err != nil {
			return err
		}
		return b.Put([]byte("small"), []byte("neighbour"))
	})
	db = reopen(t, db, &Options{NoSync: true})
	// Updating the neighbour does not copy the large value.
	var written int64
	mustUpdate(t, db, func(tx *Tx) error {
		return tx.Bucket([]byte("b")).Put([]byte("small"), []byte("changed"))
	})
	written = db.Stats().TxStats.Write
	err := db.View(func(tx *Tx) error {
		if got := tx.Bucket([]byte("b")).Get([]byte("big")); !bytes.Equal(got, big) {
			return fmt.Errorf("64 MiB value differs (len %d)", len(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if written > 8 {
		t.Fatalf("updating a neighbour wrote %d runs", written)
	}
}

// TestChurnBounded overwrites the same 10,000 keys 1,000 times: pages are
// reused, so the file ends under 4x its size after the first pass.
func TestChurnBounded(t *testing.T) {
	passes := 1000
	if raceEnabled {
		passes = 200 // the race detector is ~10x slower; the bound is the same
	}
	db := openTest(t, &Options{PageSize: 4096, NoSync: true})
	val := make([]byte, 100)
	var first int64
	for pass := 0; pass < passes; pass++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := 0; i < 10000; i++ {
				val[0], val[1] = byte(pass), byte(i)
				if err := b.Put([]byte(fmt.Sprintf("key%05d", i)), val); err != nil {
					return err
				}
			}
			return nil
		})
		info, _ := db.Info()
		size := int64(info.HighPage) * int64(info.PageSize)
		if pass == 0 {
			first = size
		}
		if size > 4*first {
			t.Fatalf("pass %d: %d bytes in use, first pass %d", pass, size, first)
		}
	}
}

// TestGrowthNeverWaitsForReaders holds a reader open, reading all along,
// while a writer grows the file several times.
func TestGrowthNeverWaitsForReaders(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096, NoSync: true, InitialMmapSize: 1 << 20})
	db.AllocSize = 1 << 20
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		return b.Put([]byte("stable"), []byte("value"))
	})
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	startSize := rtx.Size()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	var reads int
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if v := rtx.Bucket([]byte("b")).Get([]byte("stable")); string(v) != "value" {
				t.Errorf("reader saw %q", v)
				return
			}
			reads++
		}
	}()
	val := make([]byte, 1000)
	for round := 0; round < 40; round++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := 0; i < 500; i++ {
				if err := b.Put([]byte(fmt.Sprintf("r%03d-%04d", round, i)), val); err != nil {
					return err
				}
			}
			return nil
		})
	}
	stop.Store(true)
	wg.Wait()
	info, _ := db.Info()
	if info.FileSize < 8*startSize || info.FileSize < 16<<20 {
		t.Fatalf("file grew from %d to %d bytes only", startSize, info.FileSize)
	}
	if reads == 0 {
		t.Fatal("reader never ran")
	}
	_ = rtx.Rollback()
}

// TestCloseGivesBackGrownTail: the file grows ahead of its data in steps;
// Close gives the unused tail back, in both modes, and the next commit
// grows it again.
func TestCloseGivesBackGrownTail(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			path := tempPath(t)
			opts := &Options{PageSize: 1024, WAL: wal}
			db, err := Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			fill := func(db *DB, from int) {
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for i := from; i < from+500; i++ {
						if err := b.Put(fmt.Appendf(nil, "%08d", i), make([]byte, 50)); err != nil {
							return err
						}
					}
					return nil
				})
			}
			// Fill until the file has grown past the data (a doubling or an
			// AllocSize step rarely ends exactly at the high water mark).
			var in Info
			for n := 0; n < 10; n++ {
				fill(db, n*500)
				// WAL mode: the checkpoint Close would make comes now, so
				// Info sees the high water mark the file ends at.
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				if in, _ = db.Info(); in.FileSize > int64(in.HighPage)*1024 {
					break
				}
			}
			if in.FileSize <= int64(in.HighPage)*1024 {
				t.Fatalf("no grown tail to give back: file %d bytes, high water %d pages", in.FileSize, in.HighPage)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(in.HighPage) * 1024; fi.Size() != want {
				t.Fatalf("closed file is %d bytes, want the high water mark %d", fi.Size(), want)
			}
			db, err = Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			fill(db, 5000)
			mustCheck(t, db)
			closeChecked(t, db)
		})
	}
}

// TestCursorDeleteTwice: a second Delete without a move removes the
// element that followed the first; when that is a nested bucket it
// refuses (ErrIncompatibleValue) instead of dropping the bucket's element
// and leaking its pages.
func TestCursorDeleteTwice(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "c"} {
			if err := b.Put([]byte(k), []byte(k)); err != nil {
				return err
			}
		}
		n, err := b.CreateBucket([]byte("b-nested"))
		if err != nil {
			return err
		}
		for i := range 100 {
			if err := n.Put([]byte{byte(i)}, make([]byte, 300)); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		if k, _ := c.Seek([]byte("a")); string(k) != "a" {
			return fmt.Errorf("seek found %q", k)
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if err := c.Delete(); !errors.Is(err, ErrIncompatibleValue) {
			return fmt.Errorf("second Delete, on the nested bucket: %v, want ErrIncompatibleValue", err)
		}
		return nil
	})
	mustCheck(t, db)
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Get([]byte("a")) != nil || b.Get([]byte("c")) == nil || b.Bucket([]byte("b-nested")) == nil {
			return errors.New("want a deleted, c and b-nested kept")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A load in key order fills its pages to AppendFillPercent (full by
// default), and inserts between the loaded keys then split each full page
// they land in; a bucket loaded with room to spare takes them in place.
func TestAppendFillPercent(t *testing.T) {
	const n, inserts = 20000, 300
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%08d", i*10)) }
	val := bytes.Repeat([]byte{'v'}, 40)
	leaves := func(db *DB) (leaves int) {
		mustUpdate(t, db, func(tx *Tx) error {
			leaves = tx.Bucket([]byte("b")).Stats().LeafPageN
			return nil
		})
		return leaves
	}
	run := func(appendFill float64) (loaded, grown int) {
		db := openTest(t, nil)
		for lo := 0; lo < n; lo += 5000 {
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				if appendFill != 0 {
					b.AppendFillPercent = appendFill
				}
				for i := lo; i < lo+5000; i++ {
					if err := b.Put(key(i), val); err != nil {
						return err
					}
				}
				return nil
			})
		}
		loaded = leaves(db)
		// Between loaded keys, spread over the whole bucket.
		for j := range inserts {
			mustUpdate(t, db, func(tx *Tx) error {
				i := (j*7919)%n*10 + 5
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprintf("k%08d", i)), val)
			})
		}
		return loaded, leaves(db) - loaded
	}
	fullLoaded, fullGrown := run(0)
	roomLoaded, roomGrown := run(0.5)
	// Full pages: about half as many as at a half fill, and most inserts
	// split one. Half-full pages: no insert needs to split.
	if fullLoaded*10 > roomLoaded*6 {
		t.Errorf("loaded in key order: %d leaves by default, %d at AppendFillPercent 0.5; want about half", fullLoaded, roomLoaded)
	}
	if fullGrown < inserts/2 {
		t.Errorf("%d inserts between keys of full pages added only %d leaves", inserts, fullGrown)
	}
	if roomGrown > inserts/20 {
		t.Errorf("%d inserts into half-full pages added %d leaves", inserts, roomGrown)
	}
	t.Logf("default: %d leaves, +%d after %d inserts; AppendFillPercent 0.5: %d, +%d", fullLoaded, fullGrown, inserts, roomLoaded, roomGrown)
}

// FillPercent applies to the splits a big transaction makes as it goes,
// not only to those at its commit: keys put in descending order (never an
// append) in one transaction leave fuller pages at 0.9 than at 0.5.
func TestFillPercentWithinTransaction(t *testing.T) {
	leaves := func(fill float64) (n int) {
		db := openTest(t, nil)
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			b.FillPercent = fill
			for i := 20000; i > 0; i-- {
				if err := b.Put([]byte(fmt.Sprintf("k%08d", i)), bytes.Repeat([]byte{'v'}, 40)); err != nil {
					return err
				}
			}
			return nil
		})
		mustUpdate(t, db, func(tx *Tx) error {
			n = tx.Bucket([]byte("b")).Stats().LeafPageN
			return nil
		})
		return n
	}
	half, most := leaves(0.5), leaves(0.9)
	if most*10 > half*7 {
		t.Errorf("leaves after 20,000 descending puts: %d at FillPercent 0.9, %d at 0.5; want about 0.56 as many", most, half)
	}
	t.Logf("FillPercent 0.5: %d leaves, 0.9: %d", half, most)
}

// TestFillPercentBounds: FillPercent and AppendFillPercent outside 0.1
// to 1.0 split as the nearest bound does, and NaN as the default; an
// AppendFillPercent of 0 is the default (full pages), where a
// FillPercent of 0 is 0.1. Counted in leaves of one transaction's keys,
// in random order (FillPercent) or in key order (AppendFillPercent),
// each fill in a bucket of its own.
func TestFillPercentBounds(t *testing.T) {
	db := openTest(t, nil)
	n := 0
	leaves := func(fill float64, appendFill bool) (leaves int) {
		n++
		name := fmt.Appendf(nil, "b%d", n)
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			if appendFill {
				b.AppendFillPercent = fill
			} else {
				b.FillPercent = fill
			}
			for i := range 2000 {
				if !appendFill {
					i = i * 7919 % 2000
				}
				if err := b.Put(fmt.Appendf(nil, "k%05d", i), make([]byte, 20)); err != nil {
					return err
				}
			}
			return nil
		})
		if err := db.View(func(tx *Tx) error { leaves = tx.Bucket(name).Stats().LeafPageN; return nil }); err != nil {
			t.Fatal(err)
		}
		return leaves
	}
	for _, appendFill := range []bool{false, true} {
		def := DefaultFillPercent
		if appendFill {
			def = 1
		}
		got := map[float64]int{}
		for _, f := range []float64{0.1, 1, def} {
			got[f] = leaves(f, appendFill)
		}
		if got[0.1] <= got[1] {
			t.Fatalf("append %v: %d leaves at 0.1, %d at 1: the fill makes no difference here", appendFill, got[0.1], got[1])
		}
		zero := 0.1
		if appendFill {
			zero = def
		}
		for _, c := range []struct{ fill, as float64 }{{0.05, 0.1}, {-1, 0.1}, {2, 1}, {math.Inf(1), 1}, {math.NaN(), def}, {0, zero}} {
			if n := leaves(c.fill, appendFill); n != got[c.as] {
				t.Errorf("append %v: fill %v made %d leaves, %v makes %d", appendFill, c.fill, n, c.as, got[c.as])
			}
		}
	}
}

// TestPutNilValueReadsEmpty: Put stores a nil value as an empty one, as
// its comment says, and every read returns it non-nil: a nil value is
// how Cursor and ForEach mark a nested bucket. In the transaction that
// put it and after the commit.
func TestPutNilValueReadsEmpty(t *testing.T) {
	db := openTest(t, nil)
	look := func(when string, tx *Tx) {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("k")); v == nil || len(v) != 0 {
			t.Errorf("%s: Get = %v, want empty, not nil", when, v)
		}
		if k, v := b.Cursor().First(); string(k) != "k" || v == nil || len(v) != 0 {
			t.Errorf("%s: First = %q, %v; want k and an empty value, not nil", when, k, v)
		}
		if err := b.ForEach(func(k, v []byte) error {
			if v == nil {
				t.Errorf("%s: ForEach gives %q a nil value, as to a bucket", when, k)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), nil); err != nil {
			return err
		}
		look("same transaction", tx)
		return nil
	})
	if err := db.View(func(tx *Tx) error { look("committed", tx); return nil }); err != nil {
		t.Fatal(err)
	}
}
