package folio

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
)

// TestDamagedFreelistRebuilt: a damaged free-list page does not make the
// file unopenable: open rebuilds the list from the tree and says so,
// Check reports the page, and the next commits work and heal the file.
func TestDamagedFreelistRebuilt(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := 0; i < 300; i++ {
				if err := b.Put([]byte(fmt.Sprintf("%d", i)), make([]byte, 30+round)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	stripCommitRuns(t, path) // damage, not a torn commit
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xee}, int64(in.Freelist)*1024+40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, ro := range []bool{true, false} {
		db, err = Open(path, 0o600, &Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("read-only=%v: %v", ro, err)
		}
		if db.Stats().MetaFallback == "" {
			t.Fatal("rebuilding the free list was not reported")
		}
		errs := checkErrs(db)
		if !corruptPages(errs)[in.Freelist] {
			t.Fatalf("read-only=%v: Check did not report the damaged free-list page %d; it said %v", ro, in.Freelist, errs)
		}
		if !ro {
			break
		}
		db.Close()
	}
	for i := 0; i < 3; i++ {
		mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), make([]byte, i)) })
	}
	mustCheck(t, db) // healed: the damaged run was freed and replaced
	db.Close()
}

// TestFreelistRunLength: a commit frees the previous free-list run by the
// length the commit that wrote it noted, not by reading its header. The
// run grows past one page and shrinks again across commits and reopens;
// Check, after every commit, finds a run freed short (leaked pages) or
// long (pages in use freed).
func TestFreelistRunLength(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024})
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%06d", i)) }
	val := make([]byte, 300) // three to a page: deletes leave single free pages
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 6000 {
			if err := b.Put(key(i), val); err != nil {
				return err
			}
		}
		return nil
	})
	maxRun := 0
	for round := range 12 {
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := round % 3; i < 6000; i += 18 {
				if round < 6 {
					if err := b.Delete(key(i)); err != nil {
						return err
					}
				} else if err := b.Put(key(i), val); err != nil {
					return err
				}
			}
			return nil
		})
		mustCheck(t, db)
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.Freelist != 0 {
			// The run's length: its header's overflow count, plus one.
			var hdr [4]byte
			f, err := os.Open(db.Path())
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.ReadAt(hdr[:], int64(in.Freelist)*1024+24)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			maxRun = max(maxRun, int(binary.LittleEndian.Uint32(hdr[:]))+1)
		}
		if round == 5 {
			db = reopen(t, db, &Options{PageSize: 1024})
		}
	}
	if maxRun < 2 {
		t.Fatalf("the free-list run never passed one page (max %d): the test does not test a long run", maxRun)
	}
}
