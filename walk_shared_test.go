package folio

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// sharedRootsImage builds a chain of depth nested buckets under "a", each
// holding buckets x, y and z (x continues the chain), then makes y and z
// of every level point at x's tree, with every checksum correct: a file
// no checksum flags, whose bucket trees form a DAG with 3^depth paths.
func sharedRootsImage(t *testing.T, depth int) (string, *editImage) {
	t.Helper()
	path, img := builtImage(t, &Options{PageSize: 1024}, func(tx *Tx) error {
		cur, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		for i := 0; i <= depth; i++ {
			if err := cur.Put([]byte("k"), pagedValue(1024)); err != nil {
				return err
			}
			if i == depth {
				break
			}
			for _, n := range []string{"y", "z"} {
				b, err := cur.CreateBucket([]byte(n))
				if err != nil {
					return err
				}
				if err := b.Put([]byte("k"), pagedValue(1024)); err != nil {
					return err
				}
			}
			if cur, err = cur.CreateBucket([]byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	e := newEditImage(t, img)
	var leaves []walkedPage
	for _, p := range e.pages {
		if p.kind == page.FlagLeaf && len(p.keys) == 4 && string(p.keys[1]) == "x" {
			leaves = append(leaves, p)
		}
	}
	if len(leaves) != depth {
		t.Fatalf("found %d leaves holding x, y, z; want %d", len(leaves), depth)
	}
	// Deepest first: each reseal puts the new checksum in x's header
	// above, which the level above then copies.
	slices.SortFunc(leaves, func(a, b walkedPage) int { return len(b.bucket) - len(a.bucket) })
	for _, l := range leaves {
		p := e.run(l.id)
		_, x, _ := page.LeafValue(p, 1)
		for i := 2; i <= 3; i++ {
			_, v, _ := page.LeafValue(p, i)
			copy(v[:12], x[:12]) // root and root checksum
		}
		e.reseal(l.id)
	}
	writeImage(t, path, e.b)
	return path, e
}

// TestSharedBucketRoots opens a file whose nested buckets share their
// trees (each level's y and z point at x's tree, 3^depth paths): Check
// and Bucket.Stats report each shared tree once and walk it once, rather
// than walk every path through the DAG (which at depth 24 would never
// end), and a rebuild of the free list refuses the file, naming a page.
func TestSharedBucketRoots(t *testing.T) {
	const depth = 8
	path, _ := sharedRootsImage(t, depth)
	db := openPath(t, path, nil)
	errs := checkErrs(db)
	for _, err := range errs {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("check: %v, want ErrCorrupt", err)
		}
	}
	if n := len(errs); n == 0 || n > 4*depth {
		t.Errorf("check reported %d problems; want each of the %d shared trees (and the leaked ones) once", n, 2*depth)
	}
	err := db.View(func(tx *Tx) error {
		tx.Bucket([]byte("a")).Stats()
		return nil
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Bucket.Stats over shared trees: %v, want ErrCorrupt", err)
	}
	_ = db.Close()

	// Without a persisted free list, open rebuilds it by walking the trees:
	// a shared tree means a later delete would free pages still in use.
	_, e := sharedRootsImage(t, depth)
	e.meta.Freelist, e.meta.FreelistSum = 0, 0
	page.EncodeMeta(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta)
	writeImage(t, path, e.b)
	db, err = Open(path, 0o600, nil)
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a file whose bucket trees are shared, rebuilding its free list")
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), path) {
		t.Errorf("open: %v; want a *CorruptError naming the path", err)
	}
}

// TestBucketCycleStats makes a nested bucket's header point at the tree
// of the bucket holding it. Without VerifyChecksums a read compares only
// the stored checksum with what the header expects, so the cycle reads
// as valid: Bucket.Stats must report it as corruption, not recurse until
// the stack overflows.
func TestBucketCycleStats(t *testing.T) {
	path, leaf := selfNestedImage(t)
	db := openPath(t, path, nil)
	err := db.View(func(tx *Tx) error {
		tx.Bucket([]byte("a")).Stats()
		return nil
	})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Page != leaf {
		t.Errorf("Stats of a bucket that contains itself: %v; want ErrCorrupt naming page %d", err, leaf)
	}
}

// TestCheckAbandoned stops reading Check's channel at the first problem
// and ends the transaction, as a caller returning the first error does:
// no goroutine may stay behind, blocked on a send nobody receives.
func TestCheckAbandoned(t *testing.T) {
	path, _ := sharedRootsImage(t, 3)
	db := openPath(t, path, nil)
	for i := 0; i < 3; i++ {
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-tx.Check(); err == nil {
			t.Fatal("Check found nothing in a file with shared trees")
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if n := strings.Count(stacks, "tx.(*Tx).Check"); n > 0 {
		t.Fatalf("%d goroutines of abandoned checks left behind:\n%s", n, stacks)
	}
}

// TestDeepNesting nests buckets 40 levels deep, as the API allows: Check
// finds nothing wrong, Bucket.Stats counts them all without an error, and
// a reopen that rebuilds the free list from the tree (NoFreelistSync)
// opens the file. A walk limited to btree.MaxDepth levels of buckets
// reported such a file corrupt and refused to open it.
func TestDeepNesting(t *testing.T) {
	const levels = 40
	path := tempPath(t)
	opts := &Options{PageSize: 1024, NoFreelistSync: true}
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; i < levels && err == nil; i++ {
			if b, err = b.CreateBucket([]byte("n")); err == nil {
				err = b.Put([]byte("k"), []byte("v"))
			}
		}
		return err
	})
	for _, err := range checkErrs(db) {
		t.Errorf("check: %v", err)
	}
	if err := db.View(func(tx *Tx) error {
		if s := tx.Bucket([]byte("b")).Stats(); s.BucketN != levels+1 || s.KeyN != 2*levels {
			t.Errorf("Stats: %d buckets, %d keys; want %d and %d", s.BucketN, s.KeyN, levels+1, 2*levels)
		}
		return nil
	}); err != nil {
		t.Errorf("View with Stats: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, 0o600, opts)
	if err != nil {
		t.Fatalf("reopen (free list rebuilt from the tree): %v", err)
	}
	closeChecked(t, db)
}
