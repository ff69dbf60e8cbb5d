package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestLeafFlagsMemoryBit: a leaf element whose flags hold bit
// 31, which folio uses in memory only (a large value not yet written),
// is damage (FuzzResealed found it). A write that materialised the leaf
// took the bit as its own: the spill sized the element as a large
// value's descriptor (16 bytes) but encoded its real value, past the end
// of the run it had allocated, and the commit panicked.
func TestLeafFlagsMemoryBit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := Open(path, 0o600, &Options{PageSize: 1024, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; err == nil && i < 8; i++ {
			err = b.Put(fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{'v'}, 100))
		}
		return err
	})
	img := imageAfterClose(t, db)
	e := newEditImage(t, img)
	// NB: the leaf of the last key, where the Put of k9 below goes: the
	// bucket has more than one leaf, and the one picked in map order was
	// sometimes (3 runs in 30) another, and the Put succeeded.
	var leaf page.ID
	for id, p := range e.pages {
		if p.kind == page.FlagLeaf && len(p.bucket) == 1 && slices.ContainsFunc(p.keys, func(k []byte) bool { return string(k) == "k7" }) {
			leaf = id
		}
	}
	run := e.run(leaf)
	binary.LittleEndian.PutUint32(run[elemOffset(run, 0):], 1<<31)
	e.reseal(leaf)
	db, err = openImage(t, "f.db", e.b, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return db.Update(func(tx *Tx) error {
			return tx.Bucket([]byte("b")).Put([]byte("k9"), bytes.Repeat([]byte{'w'}, 200))
		})
	}()
	var ce *page.CorruptError
	if !errors.As(err, &ce) || ce.Page != leaf {
		t.Errorf("a write into the leaf: %v; want ErrCorrupt naming page %d", err, leaf)
	}
	if err := db.View(func(tx *Tx) error { return readAll(tx) }); !errors.As(err, &ce) || ce.Page != leaf {
		t.Errorf("reads: %v; want ErrCorrupt naming page %d", err, leaf)
	}
}
