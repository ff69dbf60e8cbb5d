package folio

import (
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
	in, _ := db.Info()
	db.Close()
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
		tx, _ := db.Begin(false)
		n := 0
		for range tx.Check() {
			n++
		}
		tx.Rollback()
		if n == 0 {
			t.Fatal("Check did not report the damaged free list")
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
