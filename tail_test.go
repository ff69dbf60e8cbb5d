package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The tests here pin how the file gives back a free tail: a commit drops
// a free extent that ends at the high water mark from its meta, and once
// the file reaches more than two growth steps past what anything may
// read, a durable commit (or, in WAL mode, a checkpoint) truncates it.

const tailPageSize = 4096

// tailLoad puts a few keys in bucket "keep", then fills bucket "big" with
// n values of 1 KiB, 500 a transaction: "big" takes the end of the file.
func tailLoad(t *testing.T, db *DB, n int) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("keep"))
		if err != nil {
			return err
		}
		for j := range 10 {
			if err := b.Put(fmt.Appendf(nil, "keep%d", j), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte{0xa5}, 1024)
	for i := 0; i < n; i += 500 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("big"))
			if err != nil {
				return err
			}
			for j := i; j < min(i+500, n); j++ {
				if err := b.Put(fmt.Appendf(nil, "k%08d", j), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func tailPut(t *testing.T, db *DB, key string) {
	t.Helper()
	if err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("keep")).Put([]byte(key), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
}

func tailDeleteBig(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Update(func(tx *Tx) error { return tx.DeleteBucket([]byte("big")) }); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func highPage(t *testing.T, db *DB) int64 {
	t.Helper()
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	return int64(in.HighPage)
}

// tailKeepsData checks that "keep" holds its keys and "big" is gone.
func tailKeepsData(t *testing.T, db *DB) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		if tx.Bucket([]byte("big")) != nil {
			return errors.New(`bucket "big" is back`)
		}
		b := tx.Bucket([]byte("keep"))
		if b == nil {
			return errors.New(`bucket "keep" lost`)
		}
		for j := range 10 {
			if string(b.Get(fmt.Appendf(nil, "keep%d", j))) != "value" {
				return fmt.Errorf("keep%d lost", j)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tailShrink makes commits (and in WAL mode checkpoints) of one put
// each until the file is under a quarter of loaded bytes, and returns how
// many it took; it fails the test after 10. The pages the last commits
// wrote before the delete sit at the end of the file until commits
// rewrite them lower down (best fit), so this takes a few commits; in
// WAL mode freed pages wait for a checkpoint, and the file is cut only
// at one.
func tailShrink(t *testing.T, db *DB, path string, wal bool, loaded int64) int {
	t.Helper()
	for i := 1; i <= 10; i++ {
		tailPut(t, db, fmt.Sprintf("shrink%d", i))
		if wal {
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if fileSize(t, path)*4 < loaded {
			return i
		}
	}
	t.Fatalf("file still %d bytes of %d after 10 commits (high water mark %d pages)", fileSize(t, path), loaded, highPage(t, db))
	return 0
}

// TestTailGivenBack deletes most of a database and checks that the file
// shrinks while the database stays open: in direct mode at the commits
// after the delete, in WAL mode at checkpoints only. The data left
// survives, Check finds nothing, the space is reused by a new load, and
// a reopen opens the smaller file.
func TestTailGivenBack(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			path := tempPath(t)
			// No checkpoint but those asked for.
			opts := &Options{PageSize: tailPageSize, WAL: wal, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour}
			db, err := Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			tailLoad(t, db, 8000) // ~10 MiB
			if wal {
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			loaded := fileSize(t, path)
			if high := highPage(t, db); high < 2000 {
				t.Fatalf("the load reached only %d pages", high)
			}
			tailDeleteBig(t, db)
			if wal {
				for i := range 5 {
					tailPut(t, db, fmt.Sprintf("logged%d", i))
				}
				if got := fileSize(t, path); got != loaded {
					t.Errorf("WAL mode: file %d bytes after logged commits, want %d: only a checkpoint may cut it", got, loaded)
				}
			}
			n := tailShrink(t, db, path, wal, loaded)
			t.Logf("file %d bytes after %d commits, from %d (high water mark %d pages)", fileSize(t, path), n, loaded, highPage(t, db))
			if size, high := fileSize(t, path), highPage(t, db); size < high*tailPageSize {
				t.Fatalf("file %d bytes, shorter than its %d pages", size, high)
			}
			mustCheck(t, db)
			tailKeepsData(t, db)

			// The space comes back for a new load, and goes again.
			tailLoad(t, db, 4000)
			mustCheck(t, db)
			tailDeleteBig(t, db)
			tailShrink(t, db, path, wal, loaded)
			db = reopen(t, db, opts)
			tailKeepsData(t, db)
			if high, size := highPage(t, db), fileSize(t, path); size > high*4*tailPageSize {
				t.Errorf("reopened file %d bytes for %d pages", size, high)
			}
		})
	}
}

// TestTailKeptForReaders holds a read transaction begun on the commit that
// deleted most of the data while later commits lower the high water mark
// below the reader's own: the reader's snapshot reaches only pages low in
// the file, but its WriteTo (which copies free pages too) and Check read
// every page below its mark, so the file keeps them (cut, they would
// fault: SIGBUS). Growth steps of 256 KiB make the file eligible to be
// cut. Once the reader ends, commits give the tail back.
func TestTailKeptForReaders(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: tailPageSize})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 256 << 10
	t.Cleanup(func() { _ = db.Close() })
	tailLoad(t, db, 8000)
	loaded := fileSize(t, path)
	tailDeleteBig(t, db)
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rtx.Rollback() }) // before Close, which waits for it
	readerEnd := rtx.Size()
	for i := range 5 {
		tailPut(t, db, fmt.Sprintf("after%d", i))
	}
	if high := highPage(t, db); high*tailPageSize >= readerEnd-512<<10 {
		t.Fatalf("high water mark %d pages did not fall well below the reader's %d bytes", high, readerEnd)
	}
	if size := fileSize(t, path); size < readerEnd {
		t.Fatalf("file cut to %d bytes under a reader that reads %d", size, readerEnd)
	}
	for err := range rtx.Check() {
		t.Errorf("reader's check: %v", err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := rtx.CopyFile(copyPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	cp, err := Open(copyPath, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tailKeepsData(t, cp)
	mustCheck(t, cp)
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}

	tailShrink(t, db, path, false, loaded)
	mustCheck(t, db)
	tailKeepsData(t, db)
}

// TestTailOlderMetaStillOpens damages the newest meta page of a database
// whose last commit lowered its high water mark: Open falls back to the
// older meta, which reaches further, and finds its pages, because the
// file keeps what either meta reaches. Both as a process death leaves the
// file and after Close.
func TestTailOlderMetaStillOpens(t *testing.T) {
	for _, closed := range []bool{false, true} {
		t.Run(fmt.Sprintf("closed=%v", closed), func(t *testing.T) {
			path := tempPath(t)
			db, err := Open(path, 0o600, &Options{PageSize: tailPageSize})
			if err != nil {
				t.Fatal(err)
			}
			tailLoad(t, db, 8000)
			tailDeleteBig(t, db)
			loaded := highPage(t, db)
			// Commit until one lowers the mark a lot: the older meta then
			// still reaches (nearly) the loaded extent.
			var before, after int64
			for i := 0; ; i++ {
				if i == 10 {
					t.Fatalf("high water mark still %d pages of %d after 10 commits", after, loaded)
				}
				before = highPage(t, db)
				tailPut(t, db, fmt.Sprintf("trim%d", i))
				if after = highPage(t, db); after*2 < before {
					break
				}
			}
			img := filepath.Join(t.TempDir(), "img.db")
			if !closed {
				copyFile(t, path, img) // as a process death would leave it
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if closed {
				copyFile(t, path, img)
			}
			if size := fileSize(t, img); size < before*tailPageSize {
				t.Fatalf("file %d bytes: cut below the older meta's %d pages", size, before)
			}
			// Damage the newest meta (found by a read-only open).
			db2, err := Open(img, 0o600, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			in, err := db2.Info()
			if err != nil {
				t.Fatal(err)
			}
			if err := db2.Close(); err != nil {
				t.Fatal(err)
			}
			if int64(in.HighPage) != after {
				t.Fatalf("the image's newest meta has %d pages, want %d", in.HighPage, after)
			}
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 64), int64(in.MetaSlot)*tailPageSize+32); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			db3, err := Open(img, 0o600, &Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("open with the newest meta damaged: %v", err)
			}
			defer db3.Close()
			if high := highPage(t, db3); high != before {
				t.Errorf("fell back to a meta of %d pages, want the older one's %d", high, before)
			}
			tailKeepsData(t, db3)
			mustCheck(t, db3)
		})
	}
}
