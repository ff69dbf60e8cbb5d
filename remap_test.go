package folio

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/foliodb/folio/tx"
)

// viewCountStorage counts the views of its storage that are open, and
// fails writes while failWrites is set.
type viewCountStorage struct {
	tx.Storage
	open       atomic.Int64
	failWrites atomic.Bool
}

type countedView struct {
	tx.View
	s    *viewCountStorage
	once sync.Once
}

func (s *viewCountStorage) Map(size int64) (tx.View, error) {
	v, err := s.Storage.Map(size)
	if err != nil {
		return nil, err
	}
	s.open.Add(1)
	return &countedView{View: v, s: s}, nil
}

func (v *countedView) Close() error {
	v.once.Do(func() { v.s.open.Add(-1) })
	return v.View.Close()
}

func (s *viewCountStorage) WriteAt(bufs [][]byte, off int64) error {
	if s.failWrites.Load() {
		return errInjected
	}
	return s.Storage.WriteAt(bufs, off)
}

// TestRemapAfterFailedCommitsUnmaps fails two commits in a row, each of
// which grew the file past the newest view and mapped it anew: the second
// mapping must not leak the first (mapped for a commit that never
// published it), and Close must leave no view mapped.
func TestRemapAfterFailedCommitsUnmaps(t *testing.T) {
	const ps = 4096
	st := &viewCountStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)}
	db, err := tx.Open("remap.db", st, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(n int) func(*Tx) error {
		return func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte("v"), make([]byte, n))
		}
	}
	st.failWrites.Store(true)
	// 17 MiB outgrows the first view (16 MiB), 33 MiB the second (32).
	for _, n := range []int{17 << 20, 33 << 20} {
		if err := db.Update(put(n)); !errors.Is(err, errInjected) {
			t.Fatalf("commit of %d bytes with failing writes: %v", n, err)
		}
	}
	st.failWrites.Store(false)
	if err := db.Update(put(100)); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("v")); len(v) != 100 {
			t.Errorf("value is %d bytes, want 100", len(v))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := st.open.Load(); n != 0 {
		t.Fatalf("%d views still mapped after Close", n)
	}
}

// TestRemapKeepsOldSnapshots holds a read transaction across each of
// several remappings (the file grows past 16, 32 and 64 MiB), then reads
// every snapshot in full, with checksums verified: each still sees its
// own state through the view it began on, and Close unmaps every view.
func TestRemapKeepsOldSnapshots(t *testing.T) {
	const ps = 4096
	st := &viewCountStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)}
	db, err := tx.Open("remap.db", st, &Options{NoSync: true, VerifyChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 << 20
	val := func(i int) []byte {
		v := make([]byte, 3<<20)
		for j := range v {
			v[j] = byte(i + j/ps)
		}
		return v
	}
	var snaps []*Tx
	for i := 0; i < 24; i++ {
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprintf("k%02d", i)), val(i))
		}); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			rtx, err := db.Begin(false)
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, rtx)
		}
	}
	if n := st.open.Load(); n < 3 {
		t.Fatalf("%d views open: the file was not remapped while readers held old ones", n)
	}
	for s, rtx := range snaps {
		n := 0
		c := rtx.Bucket([]byte("b")).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if !bytes.Equal(v, val(n)) || string(k) != fmt.Sprintf("k%02d", n) {
				t.Fatalf("snapshot %d: key %d is %q, wrong value", s, n, k)
			}
			n++
		}
		if err := rtx.Err(); err != nil || n != 4*s+1 {
			t.Fatalf("snapshot %d: %d keys (%v), want %d", s, n, err, 4*s+1)
		}
		if err := rtx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := st.open.Load(); n != 0 {
		t.Fatalf("%d views still mapped after Close", n)
	}
}
