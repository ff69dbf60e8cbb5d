package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// The tests here make the file wrong in ways no checksum catches: each
// edited page is resealed and every page above it gets the new checksum,
// up to the meta, as a buggy folio could have written it. Check must
// still name each problem and its page.

// editImage is a database image being edited.
type editImage struct {
	t    *testing.T
	b    []byte
	ps   int
	meta page.Meta
	slot int
	// runs are the runs the meta lists (a one-sync commit's), kept
	// when the meta is resealed, each with its run's new checksum.
	runs  []page.CommitRun
	pages map[page.ID]walkedPage
	// lenient makes reseal stop quietly where an earlier edit broke the
	// chain of parents (fuzzing), instead of failing the test.
	lenient bool
}

func newEditImage(t *testing.T, img []byte) *editImage {
	m, pages := pageMap(t, img)
	e := &editImage{t: t, b: bytes.Clone(img), ps: int(m.PageSize), meta: m, pages: map[page.ID]walkedPage{}}
	for _, p := range pages {
		e.pages[p.id] = p
	}
	if m0, err := page.DecodeMeta(img, 0); err != nil || m0.TxID != m.TxID {
		e.slot = 1
	}
	e.runs = page.MetaCommitRuns(e.b[e.slot*e.ps:], nil)
	return e
}

func (e *editImage) run(id page.ID) []byte {
	n := 1
	if p, ok := e.pages[id]; ok {
		n = p.pages
	}
	return e.b[int(id)*e.ps : (int(id)+n)*e.ps]
}

// elemOffset is where element i of a branch or leaf run starts.
func elemOffset(run []byte, i int) int {
	size := page.BranchElemSize
	if page.PageFlags(run) == page.FlagLeaf {
		size = page.LeafElemSize
	}
	return page.HeaderSize + page.PageCount(run)*page.HintSize + i*size
}

// leafOf returns the leaf of the bucket at path, a bucket of one leaf,
// failing t if it has none.
func (e *editImage) leafOf(t *testing.T, path ...string) page.ID {
	t.Helper()
	for id, p := range e.pages {
		if p.kind == page.FlagLeaf && slices.Equal(p.bucket, path) {
			return id
		}
	}
	t.Fatalf("no leaf of bucket %q", path)
	return 0
}

// reseal recomputes the checksum of run id and records it in every page
// above it, up to the meta.
func (e *editImage) reseal(id page.ID) {
	sum := page.Seal(e.run(id))
	for i := range e.runs {
		if e.runs[i].ID == id {
			e.runs[i].Sum = sum
		}
	}
	wp := e.pages[id]
	if wp.parent == 0 {
		switch id {
		case e.meta.Root:
			e.meta.RootSum = sum
		case e.meta.Freelist:
			e.meta.FreelistSum = sum
		default:
			e.t.Fatalf("page %d has no parent and is neither root nor free list", id)
		}
		// NB: EncodeMeta lists no runs: a one-sync commit's meta lost
		// them, and Open never verified the runs of an edited image.
		page.EncodeMetaCommit(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta, e.runs)
		return
	}
	p := e.run(wp.parent)
	size := page.BranchElemSize
	if page.PageFlags(p) == page.FlagLeaf {
		size = page.LeafElemSize
	}
	count, err := page.CheckElems(p, wp.parent, size)
	if err != nil {
		count = 0 // an earlier edit broke the parent: found stays false
	}
	found := false
	for i := 0; i < count; i++ {
		if page.PageFlags(p) == page.FlagBranch {
			if c, _ := page.BranchChild(p, i); c == id {
				binary.LittleEndian.PutUint32(p[elemOffset(p, i)+8:], sum)
				found = true
			}
			continue
		}
		flags, v, ok := page.LeafValue(p, i)
		if !ok || len(v) < 16 {
			continue // not a bucket header or large-value descriptor (any more)
		}
		switch {
		case flags&page.LeafBucket != 0 && page.ID(binary.LittleEndian.Uint64(v)) == id:
			binary.LittleEndian.PutUint32(v[8:], sum)
			found = true
		case flags&page.LeafLarge != 0 && page.ID(binary.LittleEndian.Uint64(v)) == id:
			binary.LittleEndian.PutUint32(v[12:], sum)
			found = true
		}
	}
	if !found {
		if e.lenient {
			return // an earlier edit changed the parent's pointer
		}
		e.t.Fatalf("page %d: its parent %d does not point at it", id, wp.parent)
	}
	e.reseal(wp.parent)
}

// setFree rewrites the free list to hold exactly the pages in free.
func (e *editImage) setFree(free map[page.ID]bool) {
	var exts []page.Extent
	for id := page.ID(2); id < e.meta.High; id++ {
		if !free[id] {
			continue
		}
		if n := len(exts); n > 0 && exts[n-1].Start+page.ID(exts[n-1].Len) == id {
			exts[n-1].Len++
		} else {
			exts = append(exts, page.Extent{Start: id, Len: 1})
		}
	}
	run := e.run(e.meta.Freelist)
	body := run[page.HeaderSize:]
	if page.FreelistSize(exts) > len(body) {
		e.t.Skipf("the free list run has no room for %d extents", len(exts))
	}
	clear(body)
	page.EncodeFreelist(body, exts)
	e.meta.FreeDelta = "" // the run holds the whole set now
	e.reseal(e.meta.Freelist)
}

func (e *editImage) freePages() map[page.ID]bool {
	run := e.run(e.meta.Freelist)
	exts, err := page.DecodeFreelist(run[page.HeaderSize:], e.meta.Freelist, e.meta.High)
	if err == nil {
		exts, err = page.ApplyFreeDelta(exts, e.meta, page.ID(e.slot))
	}
	if err != nil {
		e.t.Fatal(err)
	}
	free := map[page.ID]bool{}
	for _, x := range exts {
		for i := uint64(0); i < x.Len; i++ {
			free[x.Start+page.ID(i)] = true
		}
	}
	return free
}

// wantProblem checks that Check reported a problem on page id whose
// message holds what.
func wantProblem(t *testing.T, errs []error, id page.ID, what string) {
	t.Helper()
	for _, err := range errs {
		var ce *CorruptError
		if errors.As(err, &ce) && ce.Page == id && strings.Contains(err.Error(), what) {
			return
		}
	}
	t.Errorf("Check did not report %q on page %d; it said:", what, id)
	for _, err := range errs {
		t.Errorf("  %v", err)
	}
}

// checkEdited writes the edited image, opens it (without VerifyChecksums:
// every checksum is right) and returns what Check says.
func checkEdited(t *testing.T, path string, e *editImage) []error {
	t.Helper()
	writeImage(t, path, e.b)
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db.Close()
	errs := checkErrs(db)
	for _, err := range errs {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Check problem %v does not wrap ErrCorrupt", err)
		}
	}
	// Reading and writing such a file may fail, with ErrCorrupt, but must
	// not panic.
	if err := db.View(readAll); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Errorf("reading the damaged file: %v, want success or ErrCorrupt", err)
	}
	if err := writeEverywhere(db); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Errorf("writing to the damaged file: %v, want success or ErrCorrupt", err)
	}
	return errs
}

// writeEverywhere changes every bucket: it overwrites and deletes keys,
// then deletes the buckets, so every page of the file is rewritten or
// freed.
func writeEverywhere(db *DB) error {
	if err := db.Update(func(tx *Tx) error {
		var walk func(b *Bucket, depth int) error
		walk = func(b *Bucket, depth int) error {
			if b == nil || depth > 8 {
				return nil
			}
			var keys, subs [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v == nil {
					subs = append(subs, bytes.Clone(k))
				} else {
					keys = append(keys, bytes.Clone(k))
				}
			}
			for i, k := range keys {
				var err error
				if i%2 == 0 {
					err = b.Put(k, []byte("rewritten"))
				} else {
					err = b.Delete(k)
				}
				if err != nil {
					return err
				}
			}
			for _, k := range subs {
				if err := walk(b.Bucket(k), depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := walk(tx.Bucket(k), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return db.Update(func(tx *Tx) error {
		var names [][]byte
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			names = append(names, bytes.Clone(k))
		}
		for _, k := range names {
			if err := tx.DeleteBucket(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// pickPage returns a reachable page of kind in a bucket's tree, not a
// root, with at least n elements.
func (e *editImage) pickPage(kind page.Flags, n int, skip ...page.ID) walkedPage {
next:
	for id := page.ID(2); id < e.meta.High; id++ {
		p, ok := e.pages[id]
		if !ok || p.kind != kind || p.root || len(p.bucket) == 0 || page.PageCount(e.run(id)) < n {
			continue
		}
		for _, s := range skip {
			if related := id == s || e.pages[id].parent == s || e.pages[s].parent == id; related {
				continue next
			}
		}
		return p
	}
	e.t.Fatalf("no %s page with %d elements", kind, n)
	return walkedPage{}
}

// Edits, each returning the page Check must name and what it must say.

func editKeyOrder(e *editImage, skip ...page.ID) (page.ID, string) {
	leaf := e.pickPage(page.FlagLeaf, 3, skip...)
	run := e.run(leaf.id)
	a, b := elemOffset(run, 1), elemOffset(run, 2)
	ea := bytes.Clone(run[a : a+page.LeafElemSize])
	copy(run[a:], run[b:b+page.LeafElemSize])
	copy(run[b:], ea)
	ha, hb := page.HeaderSize+1*page.HintSize, page.HeaderSize+2*page.HintSize
	h := bytes.Clone(run[ha : ha+page.HintSize])
	copy(run[ha:], run[hb:hb+page.HintSize])
	copy(run[hb:], h)
	e.reseal(leaf.id)
	return leaf.id, "key order"
}

func editSeparator(e *editImage, skip ...page.ID) (page.ID, string) {
	br := e.pickPage(page.FlagBranch, 3, skip...)
	run := e.run(br.id)
	k, _ := page.BranchKey(run, 1)
	k[len(k)-1]++ // now above the first key of child 1
	page.PutHint(run, 1, k)
	child, _ := page.BranchChild(run, 1)
	e.reseal(br.id)
	return child, "separator"
}

func editTwice(e *editImage, skip ...page.ID) (page.ID, string) {
	br := e.pickPage(page.FlagBranch, 3, skip...)
	run := e.run(br.id)
	c0, s0 := page.BranchChild(run, 0)
	o := elemOffset(run, 1)
	binary.LittleEndian.PutUint64(run[o:], uint64(c0))
	binary.LittleEndian.PutUint32(run[o+8:], s0)
	e.reseal(br.id)
	return c0, "reachable twice"
}

func editFreeInUse(e *editImage, skip ...page.ID) (page.ID, string) {
	leaf := e.pickPage(page.FlagLeaf, 1, skip...)
	free := e.freePages()
	free[leaf.id] = true
	e.setFree(free)
	return leaf.id, "both (on the free list and in use)"
}

func editLeak(e *editImage, skip ...page.ID) (page.ID, string) {
	free := e.freePages()
	for id := page.ID(2); id < e.meta.High; id++ {
		if free[id] && !free[id-1] && !slices.Contains(skip, id) {
			delete(free, id)
			e.setFree(free)
			return id, "leaked"
		}
	}
	e.t.Fatal("no free page")
	return 0, ""
}

func editLargeRef(e *editImage, skip ...page.ID) (page.ID, string) {
	for id := page.ID(2); id < e.meta.High; id++ {
		if p, ok := e.pages[id]; !ok || p.kind != page.FlagLeaf || slices.Contains(skip, id) {
			continue
		}
		run := e.run(id)
		for i := 0; i < page.PageCount(run); i++ {
			if flags, v, _ := page.LeafValue(run, i); flags&page.LeafLarge != 0 {
				binary.LittleEndian.PutUint64(v, 1) // a meta page
				e.reseal(id)
				return 1, "page id"
			}
		}
	}
	e.t.Fatal("no large value")
	return 0, ""
}

// TestCheckProblems makes each kind of structural damage that checksums
// cannot see (key order, a separator above its child's keys, a page
// reachable twice, a reachable page on the free list, a leaked page, a
// large value pointing at a meta page) and
// checks that Check names it and its page; then makes several at once and
// checks that Check names them all. Reads and writes on each such file
// must end in success or ErrCorrupt, never a panic.
func TestCheckProblems(t *testing.T) {
	const ps = 1024
	path, img, _ := corruptFixture(t, ps)
	edits := map[string]func(*editImage, ...page.ID) (page.ID, string){
		"key order":       editKeyOrder,
		"separator":       editSeparator,
		"reachable twice": editTwice,
		"free and in use": editFreeInUse,
		"leaked":          editLeak,
		"large value ref": editLargeRef,
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			e := newEditImage(t, img)
			id, what := edit(e)
			wantProblem(t, checkEdited(t, path, e), id, what)
		})
	}
	t.Run("all at once", func(t *testing.T) {
		e := newEditImage(t, img)
		type want struct {
			id   page.ID
			what string
		}
		var wants []want
		var used []page.ID
		for _, edit := range []func(*editImage, ...page.ID) (page.ID, string){editKeyOrder, editSeparator, editFreeInUse, editLeak} {
			id, what := edit(e, used...)
			wants = append(wants, want{id, what})
			used = append(used, id)
		}
		errs := checkEdited(t, path, e)
		for _, w := range wants {
			wantProblem(t, errs, w.id, w.what)
		}
	})
}

// findLargeValue returns the first large value in a bucket of e: the
// bucket's path, the key, the leaf page and the descriptor's bytes in it
// (to edit, then reseal).
func findLargeValue(t *testing.T, e *editImage) (bucket []string, key []byte, id page.ID, ref []byte) {
	t.Helper()
	for id := page.ID(2); id < e.meta.High; id++ {
		p, ok := e.pages[id]
		if !ok || p.kind != page.FlagLeaf || len(p.bucket) == 0 {
			continue
		}
		run := e.run(id)
		for i := 0; i < page.PageCount(run); i++ {
			if flags, v, _ := page.LeafValue(run, i); flags&page.LeafLarge != 0 {
				return p.bucket, p.keys[i], id, v
			}
		}
	}
	t.Fatal("no large value in a bucket")
	return nil, nil, 0, nil
}

// TestDamagedLargeRefWrite overwrites and deletes, without reading them
// first, large values whose descriptors point at a meta page or past the
// end of the file (self-consistent pages, as a folio bug or a hostile file
// could hold): nothing may panic or free pages that are not the value's;
// the value's own run is then left behind, which Check reports.
func TestDamagedLargeRefWrite(t *testing.T) {
	const ps = 1024
	path, img, _ := corruptFixture(t, ps)
	for _, target := range []uint64{1, 1 << 40} {
		for _, del := range []bool{false, true} {
			e := newEditImage(t, img)
			bucket, key, id, v := findLargeValue(t, e)
			ref, err := page.DecodeLargeRef(v, id)
			if err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint64(v, target)
			e.reseal(id)
			writeImage(t, path, e.b)
			db, err := Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *Tx) error {
				b := bucketAt(tx, bucket)
				if b == nil {
					return errors.New("bucket missing")
				}
				if del {
					return b.Delete(key)
				}
				return b.Put(key, []byte("small now"))
			})
			// The damaged value is gone and its run is left alone (not
			// freed: the descriptor does not lead to it), or the
			// transaction failed.
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("ref to page %d, delete=%v: %v, want success or ErrCorrupt", target, del, err)
			}
			errs := checkErrs(db)
			for _, cerr := range errs {
				if !errors.Is(cerr, ErrCorrupt) || (err == nil && !strings.Contains(cerr.Error(), "leaked")) {
					t.Errorf("ref to page %d, delete=%v: Check after the write: %v", target, del, cerr)
				}
			}
			// The value's own run, no longer reachable and never freed,
			// is what Check reports.
			if err == nil {
				if leaked := corruptPages(errs); !leaked[ref.Page] {
					t.Errorf("ref to page %d, delete=%v: Check did not report the value's run at page %d as leaked; it said %v", target, del, ref.Page, errs)
				}
			}
			_ = db.Close()
		}
	}
}

// TestDamagedLargeRefFree damages, behind the checksums, the descriptor
// of a large value so that its size claims more pages than its run holds
// (a bit flip in a leaf read without VerifyChecksums does this too), then
// overwrites and deletes the value without reading it. The pages after
// the run are in use by other values: they must not be freed, or later
// commits overwrite them. Every other value must survive a stream of
// further commits.
func TestDamagedLargeRefFree(t *testing.T) {
	const ps = 1024
	for _, c := range []struct {
		del   bool
		extra uint32
	}{{false, 1}, {true, 1}, {false, 3}, {true, 2}} {
		del, extra := c.del, c.extra
		path, img, model := corruptFixture(t, ps)
		e := newEditImage(t, img)
		bucket, key, id, v := findLargeValue(t, e)
		ref, _ := page.DecodeLargeRef(v, id)
		// Claim more pages than the run has.
		binary.LittleEndian.PutUint32(v[8:], ref.Size+extra*ps)
		e.reseal(id)
		writeImage(t, path, e.b)
		db, err := Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *Tx) error {
			b := bucketAt(tx, bucket)
			if del {
				return b.Delete(key)
			}
			return b.Put(key, []byte("small now"))
		})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("delete=%v: %v, want success or ErrCorrupt", del, err)
		}
		t.Logf("delete=%v, %d pages too many: %v", del, extra, err)
		// Commits that reuse whatever was freed.
		for i := 0; i < 20; i++ {
			if err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("after"))
				if err != nil {
					return err
				}
				return b.Put([]byte{byte(i)}, bytes.Repeat([]byte{byte(i)}, 600))
			}); err != nil {
				t.Fatal(err)
			}
			lookupModel(model, []string{"after"}, true).kv[string([]byte{byte(i)})] = string(bytes.Repeat([]byte{byte(i)}, 600))
		}
		// Every other value is intact, and Check finds nothing but the
		// damaged value (if it is still there) and pages it left behind.
		var walk func(tx *Tx, path []string, m *mbucket) error
		walk = func(tx *Tx, path []string, m *mbucket) error {
			b := bucketAt(tx, path)
			for k, v := range m.kv {
				if slices.Equal(path, bucket) && k == string(key) {
					continue
				}
				if got := b.Get([]byte(k)); string(got) != v {
					return fmt.Errorf("%v/%s: %d bytes, want %d (%v)", path, k, len(got), len(v), tx.Err())
				}
			}
			for name, sub := range m.subs {
				if err := walk(tx, append(slices.Clone(path), name), sub); err != nil {
					return err
				}
			}
			return nil
		}
		if err := db.View(func(tx *Tx) error {
			for name, sub := range model.subs {
				if err := walk(tx, []string{name}, sub); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Errorf("delete=%v, %d pages too many: data lost: %v", del, extra, err)
		}
		for _, err := range checkErrs(db) {
			if !strings.Contains(err.Error(), "leaked") && !strings.Contains(err.Error(), "large value size") {
				t.Errorf("delete=%v, %d pages too many: check: %v", del, extra, err)
			}
		}
		_ = db.Close()
	}
}
