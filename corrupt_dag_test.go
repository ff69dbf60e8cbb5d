package folio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// A bucket tree whose branches repeat a child, in a file every checksum
// approves (a parent records its child's checksum, not that the child has
// one parent): fanout^depth paths through depth+1 pages. Check, the
// free-list rebuild at open, Bucket.Stats and DeleteBucket must each
// read every page once and report ErrCorrupt, not walk every path.

const (
	dagDepth  = 20
	dagFanout = 8
)

// dagImage builds such a file: bucket "a" is a chain of depth branches,
// each listing its child fanout times, over one of a's leaves; bucket "b"
// is healthy. It returns the file's path, the image being edited, the
// chain's pages from the root down (the leaf last).
func dagImage(t *testing.T, depth, fanout int) (string, *editImage, []page.ID) {
	t.Helper()
	path, img := builtImage(t, &Options{PageSize: 1024}, func(tx *Tx) error {
		for _, name := range []string{"a", "b"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := 0; i < 4*(depth+1); i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%04d", i)), make([]byte, 200)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	e := newEditImage(t, img)
	var mine []page.ID
	var leaf page.ID
	for id := page.ID(2); id < e.meta.High; id++ {
		p, ok := e.pages[id]
		if !ok || !slices.Equal(p.bucket, []string{"a"}) || p.pages != 1 {
			continue
		}
		if leaf == 0 && p.kind == page.FlagLeaf {
			leaf = id
			continue
		}
		mine = append(mine, id)
	}
	if len(mine) < depth {
		t.Fatalf("bucket a has %d pages besides a leaf; want %d", len(mine), depth)
	}
	chain := append(mine[:depth:depth], leaf)
	child, sum := leaf, page.PageChecksum(e.run(leaf))
	for i := depth - 1; i >= 0; i-- {
		sum = putDAGBranch(e, chain[i], i, fanout, child, sum)
		child = chain[i]
	}
	setBucketRoot(t, e, "a", chain[0], sum)
	writeImage(t, path, e.b)
	return path, e, chain
}

// putDAGBranch overwrites page id with a branch whose fanout elements all
// point at child; it returns its checksum. The keys of the branch at level
// ("k", then "k" 0xff-level i) sort below the second key of every branch
// above and above the leaf's keys: the first path down is in order, so
// Check reports only the repeats.
func putDAGBranch(e *editImage, id page.ID, level, fanout int, child page.ID, sum uint32) uint32 {
	p := e.b[int(id)*e.ps : int(id+1)*e.ps]
	clear(p)
	page.PutHeader(p, id, e.meta.TxID, page.FlagBranch, fanout, 0)
	off := page.HeaderSize + fanout*(page.HintSize+page.BranchElemSize)
	for i := 0; i < fanout; i++ {
		key := []byte{'k', byte(0xff - level), byte(i)}
		if i == 0 {
			key = []byte("k")
		}
		page.PutHint(p, i, key)
		page.PutBranchElem(p, i, child, sum, off, len(key))
		off += copy(p[off:], key)
	}
	return page.Seal(p)
}

// setBucketRoot points top-level bucket name at (root, sum) and reseals
// the directory up to the meta.
func setBucketRoot(t *testing.T, e *editImage, name string, root page.ID, sum uint32) {
	t.Helper()
	for id, p := range e.pages {
		if p.kind != page.FlagLeaf || p.bucket != nil {
			continue
		}
		i := slices.IndexFunc(p.keys, func(k []byte) bool { return string(k) == name })
		if i < 0 {
			continue
		}
		_, v, _ := page.LeafValue(e.run(id), i)
		binary.LittleEndian.PutUint64(v, uint64(root))
		binary.LittleEndian.PutUint32(v[8:], sum)
		e.reseal(id)
		return
	}
	t.Fatalf("no bucket %q in the directory", name)
}

func TestDAGCheck(t *testing.T) {
	path, _, chain := dagImage(t, dagDepth, dagFanout)
	db := openEdited(t, path)
	var errs []error
	before(t, 20*time.Second, "Check", func() { errs = checkErrs(db) })
	twice := map[page.ID]int{}
	for _, err := range errs {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Errorf("check: %v, want a *CorruptError", err)
			continue
		}
		if strings.Contains(err.Error(), "reachable twice") {
			twice[ce.Page]++
		}
	}
	// One problem for each page a branch repeats, however many times.
	for _, id := range chain[1:] {
		if twice[id] != 1 {
			t.Errorf("page %d reported reachable twice %d times, want once", id, twice[id])
		}
	}
	if len(twice) != len(chain)-1 || len(errs) > 2*len(chain) {
		t.Errorf("Check reported %d problems, %d pages reachable twice; want the %d shared pages (and leaks) once each:",
			len(errs), len(twice), len(chain)-1)
		for _, err := range errs {
			t.Errorf("  %v", err)
		}
	}
}

func TestDAGStats(t *testing.T) {
	path, _, chain := dagImage(t, dagDepth, dagFanout)
	db := openEdited(t, path)
	var err error
	before(t, 20*time.Second, "Bucket.Stats", func() {
		err = db.View(func(tx *Tx) error {
			if s := tx.Bucket([]byte("a")).Stats(); s.BranchPageN != dagDepth || s.LeafPageN != 1 {
				t.Errorf("Stats counted %d branches and %d leaves; want each page once: %d and 1",
					s.BranchPageN, s.LeafPageN, dagDepth)
			}
			return nil
		})
	})
	// The first repeat a depth-first walk meets: the leaf.
	var ce *CorruptError
	if leaf := chain[len(chain)-1]; !errors.As(err, &ce) || ce.Page != leaf {
		t.Errorf("Stats: %v; want ErrCorrupt naming page %d", err, leaf)
	}
}

// TestDAGRebuild opens the file without its free list, which open then
// rebuilds by walking the trees: refused (a later delete would free the
// shared pages twice), quickly.
func TestDAGRebuild(t *testing.T) {
	path, e, _ := dagImage(t, dagDepth, dagFanout)
	e.meta.Freelist, e.meta.FreelistSum = 0, 0
	page.EncodeMeta(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta)
	writeImage(t, path, e.b)
	var db *DB
	var err error
	before(t, 20*time.Second, "Open", func() { db, err = Open(path, 0o600, nil) })
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a file whose tree repeats a subtree, rebuilding its free list")
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "reachable twice") {
		t.Errorf("open: %v; want a *CorruptError: reachable twice", err)
	}
}

// TestDAGDeleteBucket deletes the bucket: ErrCorrupt naming a page, not a
// walk of every path or pages freed twice; the failed transaction leaves
// the file as it was and the database usable.
func TestDAGDeleteBucket(t *testing.T) {
	path, _, chain := dagImage(t, dagDepth, dagFanout)
	db := openEdited(t, path)
	var checkBefore int
	before(t, 20*time.Second, "Check", func() { checkBefore = len(checkErrs(db)) })
	delErr, err := deleteWithin(t, db, "a")
	var ce *CorruptError
	if !errors.As(delErr, &ce) || !strings.Contains(delErr.Error(), "reachable twice") {
		t.Fatalf("DeleteBucket: %v; want a *CorruptError: reachable twice", delErr)
	}
	if ce.Page != chain[len(chain)-1] {
		t.Errorf("DeleteBucket named page %d, want the leaf %d", ce.Page, chain[len(chain)-1])
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Update: %v, want ErrCorrupt", err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("after"), []byte("v")) })
	errs := checkErrs(db)
	for _, err := range errs {
		if strings.Contains(err.Error(), "free list and in use") {
			t.Errorf("after the failed delete: %v", err)
		}
	}
	if len(errs) != checkBefore {
		t.Errorf("Check found %d problems after the failed delete, %d before", len(errs), checkBefore)
	}
}

// TestDAGDirectoryCheck makes the bucket directory (the top-level tree)
// such a chain, over its own leaf: Check must end, and report the repeats.
func TestDAGDirectoryCheck(t *testing.T) {
	path, e, chain := dagImage(t, dagDepth, dagFanout)
	var dir page.ID
	for id, p := range e.pages {
		if p.kind == page.FlagLeaf && p.bucket == nil {
			dir = id
		}
	}
	if e.meta.Root != dir {
		t.Fatalf("the directory is not one leaf (root %d, leaf %d)", e.meta.Root, dir)
	}
	child, sum := dir, e.meta.RootSum
	for i := dagDepth - 1; i >= 0; i-- {
		sum = putDAGBranch(e, chain[i], i, dagFanout, child, sum)
		child = chain[i]
	}
	e.meta.Root, e.meta.RootSum = chain[0], sum
	page.EncodeMeta(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta)
	writeImage(t, path, e.b)
	db := openEdited(t, path)
	var errs []error
	before(t, 20*time.Second, "Check", func() { errs = checkErrs(db) })
	twice := 0
	for _, err := range errs {
		if strings.Contains(err.Error(), "reachable twice") {
			twice++
		}
	}
	if twice != dagDepth {
		t.Errorf("Check reported %d pages reachable twice, want %d", twice, dagDepth)
	}
}
