package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// The corruption tests damage a real database file the ways a disk can
// (a flipped bit, a lost write) and check that Check names every damaged
// page, that reads return ErrCorrupt naming it, and that nothing panics.
// They find pages with their own walk of the file (pageMap), built on the
// page package's decoders only, so they do not trust the code under test
// to say where the pages are.

// walkedPage is a reachable run found by pageMap.
type walkedPage struct {
	id     page.ID
	kind   page.Flags
	pages  int      // run length in pages
	root   bool     // the root of a tree (a bucket's, or the directory's)
	parent page.ID  // the page that points at it (0: the meta)
	bucket []string // the bucket whose tree holds it (nil: the directory)
	keys   [][]byte // a leaf's keys
}

// pageMap decodes img's current meta and walks every tree from it.
func pageMap(t *testing.T, img []byte) (page.Meta, []walkedPage) {
	t.Helper()
	m0, err0 := page.DecodeMeta(img, 0)
	if err0 != nil {
		t.Fatal(err0)
	}
	ps := int(m0.PageSize)
	m := m0
	if m1, err := page.DecodeMeta(img[ps:], 1); err == nil && m1.TxID > m0.TxID {
		m = m1
	}
	end := int(m.High) * ps
	var out []walkedPage
	var walk func(id, parent page.ID, sum uint32, root bool, bucket []string)
	walk = func(id, parent page.ID, sum uint32, root bool, bucket []string) {
		p := img[int(id)*ps : end]
		n, err := page.CheckRun(p, id, ps, page.FlagBranch|page.FlagLeaf, sum, true)
		if err != nil {
			t.Fatalf("pageMap: %v", err)
		}
		p = p[:n]
		wp := walkedPage{id: id, kind: page.PageFlags(p), pages: n / ps, root: root, parent: parent, bucket: bucket}
		leaf := wp.kind == page.FlagLeaf
		size := page.BranchElemSize
		if leaf {
			size = page.LeafElemSize
		}
		count, err := page.CheckElems(p, id, size)
		if err != nil {
			t.Fatalf("pageMap: %v", err)
		}
		for i := 0; i < count; i++ {
			if !leaf {
				c, csum := page.BranchChild(p, i)
				walk(c, id, csum, false, bucket)
				continue
			}
			k, _ := page.LeafKey(p, i)
			wp.keys = append(wp.keys, k)
			flags, v, _ := page.LeafValue(p, i)
			switch {
			case flags&page.LeafBucket != 0:
				h, err := page.DecodeBucketHeader(v, id)
				if err != nil {
					t.Fatalf("pageMap: %v", err)
				}
				if h.Root != 0 {
					walk(h.Root, id, h.RootSum, true, append(slices.Clone(bucket), string(k)))
				}
			case flags&page.LeafLarge != 0:
				ref, err := page.DecodeLargeRef(v, id)
				if err != nil {
					t.Fatalf("pageMap: %v", err)
				}
				q := img[int(ref.Page)*ps : end]
				n, err := page.CheckRun(q, ref.Page, ps, page.FlagLarge, ref.Sum, true)
				if err != nil {
					t.Fatalf("pageMap: %v", err)
				}
				out = append(out, walkedPage{id: ref.Page, kind: page.FlagLarge, pages: n / ps, parent: id, bucket: bucket, keys: [][]byte{k}})
			}
		}
		out = append(out, wp)
	}
	if m.Root != 0 {
		walk(m.Root, 0, m.RootSum, true, nil)
	}
	if m.Freelist != 0 {
		out = append(out, walkedPage{id: m.Freelist, kind: page.FlagFreelist, pages: 1, root: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return m, out
}

// corruptFixture builds a database with nested buckets, large values and
// trees several levels deep, closes it and returns its path and image.
func corruptFixture(t *testing.T, ps int) (string, []byte, *mbucket) {
	t.Helper()
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := newMBucket()
	for i := 1; i <= 40; i++ {
		ops := workTxn(4, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
		applyModel(m, i, ops)
	}
	if err := db.Update(fillDeep(0, 3000)); err != nil {
		t.Fatal(err)
	}
	img := closedImage(t, db)
	return path, img, m
}

// pick returns the reachable pages of kind that are not roots.
func pick(pages []walkedPage, kind page.Flags) []walkedPage {
	var out []walkedPage
	for _, p := range pages {
		if p.kind == kind && !p.root {
			out = append(out, p)
		}
	}
	return out
}

// flipBit flips one bit in the body of run id (after its header).
func flipBit(img []byte, ps int, id page.ID, at int) {
	img[int(id)*ps+page.HeaderSize+at] ^= 0x04
}

// corruptPages returns the page ids of every *CorruptError in errs.
func corruptPages(errs []error) map[page.ID]bool {
	ids := map[page.ID]bool{}
	for _, err := range errs {
		var ce *CorruptError
		if errors.As(err, &ce) {
			ids[ce.Page] = true
		}
	}
	return ids
}

// readAll reads everything in tx: every bucket, recursively, by cursor
// both ways and by Get. It returns the transaction's error.
func readAll(tx *Tx) error {
	var walk func(b *Bucket, depth int)
	walk = func(b *Bucket, depth int) {
		if b == nil || depth > 64 {
			return
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				walk(b.Bucket(k), depth+1)
				continue
			}
			_ = b.Get(k)
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		}
	}
	c := tx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		walk(tx.Bucket(k), 0)
	}
	return tx.Err()
}

// fillDeep puts n keys from key number from on into bucket "deep", which
// grows a tree three levels deep on 1 KiB pages.
func fillDeep(from, n int) func(*Tx) error {
	return func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("deep"))
		if err != nil {
			return err
		}
		for i := from; i < from+n; i++ {
			if err := b.Put([]byte(fmt.Sprintf("deep-key-%06d", i)), []byte(fmt.Sprintf("value %d", i))); err != nil {
				return err
			}
		}
		return nil
	}
}

// writeImage writes a crafted or damaged image, its metas without their
// lists of commit runs (withoutCommitRuns) so that Open reports damage
// to the newest commit's pages rather than taking it for a torn commit.
func writeImage(t *testing.T, path string, img []byte) {
	t.Helper()
	if err := os.WriteFile(path, withoutCommitRuns(t, img), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptBitFlip flips a bit in a branch, a leaf and a large-value
// run (none a root) and in the free-extent page. Check must name the
// page; with VerifyChecksums, reading everything must fail with
// ErrCorrupt naming it. The free list is read when the file is opened,
// which rebuilds it from the tree and says so (MetaFallback); reads never
// touch it.
func TestCorruptBitFlip(t *testing.T) {
	const ps = 1024
	path, img, _ := corruptFixture(t, ps)
	_, pages := pageMap(t, img)
	for _, kind := range []page.Flags{page.FlagBranch, page.FlagLeaf, page.FlagLarge, page.FlagFreelist} {
		t.Run(kind.String(), func(t *testing.T) {
			cands := pick(pages, kind)
			if kind == page.FlagFreelist {
				for _, p := range pages {
					if p.kind == kind {
						cands = append(cands, p)
					}
				}
			}
			if len(cands) == 0 {
				t.Fatalf("the fixture has no non-root %s page", kind)
			}
			for _, at := range []int{0, 5, ps/2 - page.HeaderSize} {
				target := cands[(at*7)%len(cands)]
				bad := bytes.Clone(img)
				flipBit(bad, ps, target.id, at)
				writeImage(t, path, bad)
				where := fmt.Sprintf("%s page %d, byte %d of its body", kind, target.id, at)

				db, err := Open(path, 0o600, nil)
				if err != nil {
					t.Fatalf("%s: open: %v", where, err)
				}
				// A damaged free list is rebuilt from the tree on open, and
				// said so; Check still names the page.
				if kind == page.FlagFreelist && !strings.Contains(db.Stats().MetaFallback, "free list") {
					t.Errorf("%s: rebuilding the free list was not reported", where)
				}
				errs := checkErrs(db)
				if !corruptPages(errs)[target.id] {
					t.Errorf("%s: Check did not name the page; it said %v", where, errs)
				}
				// A write that copies the page checks it whole even without
				// VerifyChecksums: sealing the damage into a copy under a
				// fresh checksum would hide it for good.
				if kind == page.FlagBranch || kind == page.FlagLeaf {
					err := writeEverywhere(db)
					var ce *CorruptError
					if !errors.As(err, &ce) || ce.Page != target.id {
						t.Errorf("%s: rewriting every key: %v; want ErrCorrupt naming the page", where, err)
					}
					if errs := checkErrs(db); !corruptPages(errs)[target.id] {
						t.Errorf("%s: after the refused writes Check did not name the page; it said %v", where, errs)
					}
				}
				_ = db.Close()
				if kind == page.FlagFreelist {
					continue // reads never touch the free list
				}

				db, err = Open(path, 0o600, &Options{VerifyChecksums: true})
				if err != nil {
					t.Fatalf("%s: open with VerifyChecksums: %v", where, err)
				}
				err = db.View(readAll)
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Page != target.id || !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: reading everything with VerifyChecksums: %v; want ErrCorrupt naming the page", where, err)
				}
				_ = db.Close()
			}
		})
	}
}

// TestCheckReportsAll damages several pages at once (leaves of different
// buckets, a branch, a large run) and checks that Check names every one.
func TestCheckReportsAll(t *testing.T) {
	const ps = 1024
	path, img, _ := corruptFixture(t, ps)
	_, pages := pageMap(t, img)
	parent := map[page.ID]page.ID{}
	for _, p := range pages {
		parent[p.id] = p.parent
	}
	// related reports whether a is b or an ancestor of b: a page reachable
	// only through a damaged one cannot be checked, so targets are not
	// chosen under one another.
	related := func(a, b page.ID) bool {
		for ; b != 0; b = parent[b] {
			if a == b {
				return true
			}
		}
		return false
	}
	var targets []page.ID
	for _, kind := range []page.Flags{page.FlagLeaf, page.FlagBranch, page.FlagLarge} {
		cands := pick(pages, kind)
		n := 0
	next:
		for i := 0; i < len(cands) && n < 3; i++ {
			id := cands[(i*7919)%len(cands)].id
			for _, o := range targets {
				if related(o, id) || related(id, o) {
					continue next
				}
			}
			targets = append(targets, id)
			n++
		}
	}
	bad := bytes.Clone(img)
	for i, id := range targets {
		flipBit(bad, ps, id, 3+i)
	}
	writeImage(t, path, bad)
	db := openPath(t, path, nil)
	errs := checkErrs(db)
	got := corruptPages(errs)
	for _, id := range targets {
		if !got[id] {
			t.Errorf("Check did not report damaged page %d", id)
		}
	}
	if len(targets) < 7 {
		t.Errorf("only %d pages damaged; the fixture should have more", len(targets))
	}
	t.Logf("%d pages damaged, %d problems reported", len(targets), len(errs))
}

// TestLostWrite replaces reachable pages by an older, self-consistent
// version of the same page (a write the disk acknowledged and lost). The
// parent's recorded checksum catches it: Check names the page, and reads
// fail with ErrCorrupt naming it even without VerifyChecksums.
func TestLostWrite(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var history [][]byte
	if err := db.Update(fillDeep(0, 3000)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		ops := workTxn(5, i, ps)
		if err := db.Update(func(tx *Tx) error {
			if err := fillDeep(i*97%3000, 30)(tx); err != nil {
				return err
			}
			return applyTxn(tx, i, ops)
		}); err != nil {
			t.Fatal(err)
		}
		img := mustRead(t, path)
		history = append(history, img)
	}
	closeChecked(t, db)
	img := history[len(history)-1]
	_, pages := pageMap(t, img)
	tried := map[page.Flags]int{}
	for _, target := range pages {
		if target.root || target.kind == page.FlagFreelist || tried[target.kind] >= 3 {
			continue
		}
		off := int(target.id) * ps
		cur := img[off : off+target.pages*ps]
		var old []byte
		for h := len(history) - 2; h >= 0 && old == nil; h-- {
			o := history[h]
			if len(o) < off+len(cur) {
				continue
			}
			cand := o[off : off+len(cur)]
			// A self-consistent older page: its id and checksum are
			// right, so only the parent's record can tell.
			if page.PageID(cand) == target.id && page.PageOverflow(cand) == page.PageOverflow(cur) &&
				page.Checksum(cand) == page.PageChecksum(cand) && !bytes.Equal(cand, cur) {
				old = cand
			}
		}
		if old == nil {
			continue
		}
		tried[target.kind]++
		where := fmt.Sprintf("%s page %d (txid %d) replaced by what it held at txid %d (a %s page)",
			target.kind, target.id, page.PageTxID(cur), page.PageTxID(old), page.PageFlags(old))
		bad := bytes.Clone(img)
		copy(bad[off:], old)
		writeImage(t, path, bad)
		db, err := Open(path, 0o600, nil)
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		if errs := checkErrs(db); !corruptPages(errs)[target.id] {
			t.Errorf("%s: Check did not name the page; it said %v", where, errs)
		}
		err = db.View(readAll)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Page != target.id {
			t.Errorf("%s: reading everything: %v; want ErrCorrupt naming the page", where, err)
		}
		_ = db.Close()
	}
	for _, kind := range []page.Flags{page.FlagLeaf, page.FlagBranch} {
		if tried[kind] == 0 {
			t.Errorf("no %s page had an older version to put back", kind)
		}
	}
	t.Logf("lost writes tried: %v", tried)
}
