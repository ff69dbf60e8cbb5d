package folio

import (
	"errors"
	"fmt"
	"testing"
)

// Writes refused because of what a key holds (a plain Put or a Delete
// onto a nested bucket, a CreateBucket or MoveBucket onto a taken name)
// write no more pages than an empty commit: the path to the key is not
// copied, as for a Delete of a missing key (TestDeleteMissingWritesNothing).
func TestRefusedWritesWriteNothing(t *testing.T) {
	db := openTest(t, nil)
	err := db.Update(func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("other")); err != nil {
			return err
		}
		for i := 0; i < 2000; i += 2 {
			k := []byte(fmt.Sprintf("key%05d", i))
			if i%100 == 0 {
				if _, err := a.CreateBucket(k); err != nil {
					return err
				}
				continue
			}
			if err := a.Put(k, []byte("value")); err != nil {
				return err
			}
		}
		_, err = tx.Bucket([]byte("other")).CreateBucket([]byte("key00100"))
		return err
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
	refused := func(what string, err, want error) error {
		if !errors.Is(err, want) {
			return fmt.Errorf("%s: %v, want %v", what, err, want)
		}
		return nil
	}
	empty := pages(func(tx *Tx) error { return nil })
	for _, c := range []struct {
		name string
		fn   func(a *Bucket) error
	}{
		{"Put onto a bucket", func(a *Bucket) error {
			for i := 0; i < 2000; i += 100 {
				k := []byte(fmt.Sprintf("key%05d", i))
				if err := refused("Put", a.Put(k, []byte("v")), ErrIncompatibleValue); err != nil {
					return err
				}
			}
			return nil
		}},
		{"Delete of a bucket", func(a *Bucket) error {
			for i := 0; i < 2000; i += 100 {
				k := []byte(fmt.Sprintf("key%05d", i))
				if err := refused("Delete", a.Delete(k), ErrIncompatibleValue); err != nil {
					return err
				}
			}
			return nil
		}},
		{"CreateBucket", func(a *Bucket) error {
			for i := 0; i < 2000; i += 50 {
				k := []byte(fmt.Sprintf("key%05d", i))
				want := ErrIncompatibleValue // a plain key
				if i%100 == 0 {
					want = ErrBucketExists
				}
				_, err := a.CreateBucket(k)
				if err := refused("CreateBucket", err, want); err != nil {
					return err
				}
			}
			return nil
		}},
		{"MoveBucket", func(a *Bucket) error {
			other := a.Tx().Bucket([]byte("other"))
			return refused("MoveBucket", other.MoveBucket([]byte("key00100"), a), ErrBucketExists)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := pages(func(tx *Tx) error { return c.fn(tx.Bucket([]byte("a"))) })
			if got != empty {
				t.Errorf("refused writes allocated %d pages, an empty commit %d", got, empty)
			}
		})
	}

	// In one transaction: refused Puts among accepted ones, in the same
	// leaves, before and after them. Every accepted one is kept.
	present := pages(func(tx *Tx) error {
		a := tx.Bucket([]byte("a"))
		for i := 0; i < 2000; i += 100 {
			if err := refused("Put", a.Put([]byte(fmt.Sprintf("key%05d", i)), []byte("v")), ErrIncompatibleValue); err != nil {
				return err
			}
			if err := a.Put([]byte(fmt.Sprintf("key%05d", i+1)), []byte("new")); err != nil {
				return err
			}
			if err := refused("Put", a.Put([]byte(fmt.Sprintf("key%05d", i)), []byte("v")), ErrIncompatibleValue); err != nil {
				return err
			}
			if err := a.Put([]byte(fmt.Sprintf("key%05d", i+3)), []byte("new")); err != nil {
				return err
			}
		}
		return nil
	})
	if present <= empty {
		t.Errorf("puts allocated %d pages, an empty commit %d: the test measures nothing", present, empty)
	}
	err = db.View(func(tx *Tx) error {
		a := tx.Bucket([]byte("a"))
		for i := 0; i < 2000; i += 100 {
			for _, j := range []int{i + 1, i + 3} {
				if v := a.Get([]byte(fmt.Sprintf("key%05d", j))); string(v) != "new" {
					t.Errorf("key%05d: %q, want \"new\"", j, v)
				}
			}
			if a.Bucket([]byte(fmt.Sprintf("key%05d", i))) == nil {
				t.Errorf("bucket key%05d is gone", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
