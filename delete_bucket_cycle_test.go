package folio

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// selfNestedImage builds a file whose bucket "a" holds a nested bucket
// "n" whose header points at a's own tree (its one leaf, with the
// checksum stored in that leaf's header, which is all a read without
// VerifyChecksums compares). It returns the path and the leaf's id.
func selfNestedImage(t *testing.T) (string, page.ID) {
	t.Helper()
	path, img := builtImage(t, &Options{PageSize: 1024}, func(tx *Tx) error {
		n, err := ensureBucket(tx, []string{"a", "n"})
		if err != nil {
			return err
		}
		return n.Put([]byte("k"), []byte("v"))
	})
	e := newEditImage(t, img)
	leaf := e.leafOf(t, "a")
	p := e.run(leaf)
	_, v, _ := page.LeafValue(p, 0)
	binary.LittleEndian.PutUint64(v, uint64(leaf))
	binary.LittleEndian.PutUint32(v[8:], page.PageChecksum(p))
	writeImage(t, path, e.b)
	return path, leaf
}

// TestDeleteBucketCycle deletes a bucket that contains itself: ErrCorrupt
// naming the page, where deleteContents recursed until the stack
// overflowed (a fatal error no recover catches). The failed transaction
// leaves a usable database.
func TestDeleteBucketCycle(t *testing.T) {
	path, leaf := selfNestedImage(t)
	db := openEdited(t, path)
	delErr, err := deleteWithin(t, db, "a")
	var ce *CorruptError
	if !errors.As(delErr, &ce) || ce.Page != leaf || !errors.Is(err, ErrCorrupt) {
		t.Errorf("DeleteBucket of a bucket holding itself: %v (Update: %v); want ErrCorrupt naming page %d", delErr, err, leaf)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		_, err := tx.CreateBucket([]byte("after"))
		return err
	})
	if err := db.View(func(tx *Tx) error {
		if tx.Bucket([]byte("a")) == nil {
			t.Error("the failed delete was committed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteBucketSharedRoots deletes a bucket whose nested buckets share
// their trees, 3^depth paths deep: each tree is freed once and the second
// is ErrCorrupt, where deleteContents opened every path (and then freed
// the shared pages twice).
func TestDeleteBucketSharedRoots(t *testing.T) {
	t.Run("open and written first", testDeleteSharedOpen)
	const depth = 16
	path, _ := sharedRootsImage(t, depth)
	db := openEdited(t, path)
	delErr, err := deleteWithin(t, db, "a")
	var ce *CorruptError
	if !errors.As(delErr, &ce) || !strings.Contains(delErr.Error(), "reachable twice") || !errors.Is(err, ErrCorrupt) {
		t.Errorf("DeleteBucket over shared trees: %v (Update: %v); want ErrCorrupt: reachable twice", delErr, err)
	}
}

// testDeleteSharedOpen writes to one of two buckets sharing a tree, so
// that its pages are materialised nodes too, then deletes their parent:
// ErrCorrupt naming the shared root, not its pages freed twice.
func testDeleteSharedOpen(t *testing.T) {
	path, e := sharedRootsImage(t, 1)
	db := openEdited(t, path)
	var err error
	var shared page.ID
	for id, p := range e.pages {
		if p.root && slices.Equal(p.bucket, []string{"a", "x"}) {
			shared = id
		}
	}
	var delErr error
	err = db.Update(func(tx *Tx) error {
		a := tx.Bucket([]byte("a"))
		if err := a.Bucket([]byte("y")).Put([]byte("k2"), []byte("v2")); err != nil {
			return err
		}
		delErr = tx.DeleteBucket([]byte("a"))
		return delErr
	})
	var ce *CorruptError
	if !errors.As(delErr, &ce) || ce.Page != shared || !errors.Is(err, ErrCorrupt) {
		t.Errorf("DeleteBucket: %v (Update: %v); want ErrCorrupt naming the shared root %d", delErr, err, shared)
	}
}
