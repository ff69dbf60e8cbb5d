package folio

import (
	"fmt"
	"testing"
)

// Deleting keys that are not there writes no more pages than an empty
// commit: the path to where the key would be is not copied.
func TestDeleteMissingWritesNothing(t *testing.T) {
	db := openTest(t, nil)
	err := db.Update(func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		b, err := a.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 2000; i += 2 {
			if err := b.Put([]byte(fmt.Sprintf("key%05d", i)), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pages := func(fn func(tx *Tx) error) int64 {
		t.Helper()
		before := db.Stats().TxStats.PageCount
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		return db.Stats().TxStats.PageCount - before
	}
	empty := pages(func(tx *Tx) error { return nil })
	missing := pages(func(tx *Tx) error {
		b := tx.Bucket([]byte("a")).Bucket([]byte("b"))
		for i := 1; i < 2000; i += 20 {
			if err := b.Delete([]byte(fmt.Sprintf("key%05d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if missing != empty {
		t.Errorf("deleting missing keys allocated %d pages, an empty commit %d", missing, empty)
	}
	present := pages(func(tx *Tx) error {
		return tx.Bucket([]byte("a")).Bucket([]byte("b")).Delete([]byte("key00000"))
	})
	if present <= empty {
		t.Errorf("deleting a key allocated %d pages, an empty commit %d: the test measures nothing", present, empty)
	}
	err = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("a")).Bucket([]byte("b"))
		if b.Get([]byte("key00000")) != nil || b.Get([]byte("key00002")) == nil {
			t.Errorf("after the deletes: key00000 %q, key00002 %q", b.Get([]byte("key00000")), b.Get([]byte("key00002")))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
