package tx_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// A View's Tx goes back to a pool, reset only in part (Tx.reset): whatever
// a read transaction did, the next one to use that Tx must begin exactly
// as it would on a new Tx, or state would leak from one View to the next.
func TestViewTxReset(t *testing.T) {
	db, err := folio.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := b.Put([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		n, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		return n.Put([]byte("x"), []byte("y"))
	})
	if err != nil {
		t.Fatal(err)
	}
	errDone := errors.New("done")
	reused, fresh, err := tx.RecycledViewTx(db, func(rt *tx.Tx) error {
		rt.OnCommit(func() { t.Error("a read transaction's commit handler ran") })
		rt.WriteFlag = 1 // the next View's WriteTo must not open the file with it
		b := rt.Bucket([]byte("b"))
		if b == nil || b.Bucket([]byte("nested")).Get([]byte("x")) == nil {
			t.Error("bucket contents missing")
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
		}
		if rt.Bucket([]byte("none")) != nil {
			t.Error("a missing bucket was found")
		}
		_ = rt.ForEach(func([]byte, *tx.Bucket) error { return nil })
		return errDone
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("fn's error = %v, want %v", err, errDone)
	}
	if diff := fieldsDiffer(reflect.ValueOf(&reused).Elem(), reflect.ValueOf(&fresh).Elem(), "Tx"); len(diff) > 0 {
		t.Fatalf("a reset Tx begins unlike a new one in %v", diff)
	}
}

// fieldsDiffer names the fields, down to the first level that is not a
// struct, in which a and b differ. (Printing a Tx would read its map,
// which goes past the file's end.)
func fieldsDiffer(a, b reflect.Value, path string) []string {
	if a.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return []string{path}
		}
		return nil
	}
	var diff []string
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if !fa.CanInterface() {
			fa, fb = reflect.NewAt(fa.Type(), fa.Addr().UnsafePointer()).Elem(), reflect.NewAt(fb.Type(), fb.Addr().UnsafePointer()).Elem()
		}
		diff = append(diff, fieldsDiffer(fa, fb, path+"."+a.Type().Field(i).Name)...)
	}
	return diff
}

// A snapshot remembers the headers of the top-level buckets its readers
// opened (snapshot.buckets, four slots). Readers of one snapshot, racing
// to fill the slots, must each get their own bucket; more buckets than
// slots still open; and a commit that changes, deletes or recreates a
// bucket is seen by the next reader, while a reader of the older snapshot
// keeps what it saw.
func TestSnapshotBucketHeaders(t *testing.T) {
	db, err := folio.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const buckets = 7
	name := func(i int) []byte { return []byte(fmt.Sprintf("bucket-%d", i)) }
	put := func(i int, v string) {
		t.Helper()
		err := db.Update(func(tx *folio.Tx) error {
			b, err := tx.CreateBucketIfNotExists(name(i))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte(v))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// get reads bucket i's "k", opening the bucket twice in the one View.
	get := func(i int) (string, error) {
		var got string
		err := db.View(func(tx *folio.Tx) error {
			for range 2 {
				b := tx.Bucket(name(i))
				if b == nil {
					got = "<no bucket>"
					return nil
				}
				got = string(b.Get([]byte("k")))
			}
			return nil
		})
		return got, err
	}
	for i := range buckets {
		put(i, fmt.Sprint("v", i))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Buckets 0-3 fill the four slots, in whatever order.
			for r := range 50 {
				i := (g + r) % 4
				if got, err := get(i); err != nil || got != fmt.Sprint("v", i) {
					t.Errorf("bucket %d: got %q, %v; want %q", i, got, err, fmt.Sprint("v", i))
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := 4; i < buckets; i++ {
		if got, err := get(i); err != nil || got != fmt.Sprint("v", i) {
			t.Errorf("bucket %d, past the slots: got %q, %v; want %q", i, got, err, fmt.Sprint("v", i))
		}
	}

	old, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()
	put(0, "changed")
	if err := db.Update(func(tx *folio.Tx) error { return tx.DeleteBucket(name(1)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *folio.Tx) error { return tx.DeleteBucket(name(2)) }); err != nil {
		t.Fatal(err)
	}
	put(2, "recreated")
	for i, want := range map[int]string{0: "changed", 1: "<no bucket>", 2: "recreated", 3: "v3", 6: "v6"} {
		if got, err := get(i); err != nil || got != want {
			t.Errorf("after the commits, bucket %d: got %q, %v; want %q", i, got, err, want)
		}
	}
	for i := range 3 {
		if got := string(old.Bucket(name(i)).Get([]byte("k"))); got != fmt.Sprint("v", i) {
			t.Errorf("the older snapshot's bucket %d: got %q, want %q", i, got, fmt.Sprint("v", i))
		}
	}
}
