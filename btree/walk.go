package btree

import (
	"bytes"
	"fmt"

	"github.com/foliodb/folio/page"
)

// Walker receives what Walk finds. Any field may be nil.
type Walker struct {
	// Page is called for every run of the tree: branch and leaf pages and
	// the runs of large values.
	Page func(id page.ID, pages int, kind page.Flags, depth int)
	// Elem is called for every leaf element, with its stored value (a
	// BucketHeader or LargeRef is passed undecoded) and its flags.
	Elem func(key, stored []byte, flags uint32)
	// Problem is called for every problem found; Walk goes on past it
	// where the tree still makes sense.
	Problem func(err error)
	// Seen holds the pages walked already, shared by the walks of all
	// the trees of a file (bucket trees may share subtrees too), made by
	// NewPageSet with the file's page count; nil: a set of this walk's
	// own.
	Seen *PageSet
	// MaxTxID, if not 0, is the txid of the meta the walk started from:
	// a page whose header claims a later one is a problem (no commit the
	// meta holds wrote it).
	MaxTxID page.TxID
	// Key formats the keys that key order and separator problems name;
	// nil: quoted (%q).
	Key func(key []byte) string
}

// PageSet is a set of page ids, for walks that must read each page once.
// Parents record their children's checksums, so a hostile file can still
// repeat a child or share a subtree between branches (a DAG): walking
// every path would cost up to fanout^MaxDepth. A page reached again is
// reported (once), not walked again.
//
// A bitmap in chunks of 4096 pages: a bit a page over a dense tree (a
// Check of 1M keys), and a few chunks for a small bucket in a large file
// (Bucket.Stats), where one flat bitmap would be a bit for every page of
// the file.
type PageSet struct {
	high   page.ID // ids at or past it are never added (0: no bound)
	chunks map[page.ID]*pageChunk
	lastK  page.ID
	last   *pageChunk
	twice  map[page.ID]bool // pages already reported reached twice
	// wary: a run was reached twice, or could not be read; from then on
	// runOverlap reads each run's header before its CRC is computed.
	wary bool
	// read counts the pages whose CRC the walks computed, for overRead.
	read uint64
}

const chunkPages = 4096

type pageChunk [chunkPages / 64]uint64

// NewPageSet returns an empty set for a file of high pages. Pages at or
// past high are never added: a read refuses them at no cost, and marking
// every wild id a damaged page holds would take a chunk each.
func NewPageSet(high page.ID) *PageSet { return &PageSet{high: high} }

func (s *PageSet) chunk(id page.ID, create bool) *pageChunk {
	k := id / chunkPages
	if s.last != nil && s.lastK == k {
		return s.last
	}
	c := s.chunks[k]
	if c == nil {
		if !create {
			return nil
		}
		if s.chunks == nil {
			s.chunks = map[page.ID]*pageChunk{}
		}
		c = new(pageChunk)
		s.chunks[k] = c
	}
	s.lastK, s.last = k, c
	return c
}

func (s *PageSet) has(id page.ID) bool {
	c := s.chunk(id, false)
	i := id % chunkPages
	return c != nil && c[i/64]&(1<<(i%64)) != 0
}

// add adds the run of n pages at id and returns the first of them that
// was in the set already, if any. It stops there: the pages before it
// are added, those after it are not.
//
// NB: stopping keeps the work linear in a hostile file whose runs each
// start a page before the last and overlap it: adding every page of
// each was 1+2+...+n pages (a run may be 2^20 pages long).
func (s *PageSet) add(id page.ID, n int) (dup page.ID, twice bool) {
	for i := 0; i < n; i++ {
		p := id + page.ID(i)
		if p < id || (s.high != 0 && p >= s.high) {
			break
		}
		c := s.chunk(p, true)
		j := p % chunkPages
		if c[j/64]&(1<<(j%64)) != 0 {
			return p, true
		}
		c[j/64] |= 1 << (j % 64)
	}
	return 0, false
}

// firstIn returns the first page of the run of n pages at id that is in
// the set, if any, adding none.
func (s *PageSet) firstIn(id page.ID, n int) (page.ID, bool) {
	for i := 0; i < n; i++ {
		p := id + page.ID(i)
		if p < id || (s.high != 0 && p >= s.high) {
			break
		}
		if s.has(p) {
			return p, true
		}
	}
	return 0, false
}

// headPages is a Pages that can return a run with its header checked
// (id, kind, length, the checksum field against sum) but not its CRC,
// whatever its Run does.
type headPages interface {
	RunHead(id page.ID, kind page.Flags, sum uint32) ([]byte, error)
}

// headFirst returns pages as a headPages if its Run checksums every run
// it returns (VerifiesRuns) and it can read a run's header alone; nil
// otherwise (its Run costs no more than a header then). See runOverlap.
func headFirst(pages Pages) headPages {
	if v, ok := pages.(verifyingPages); !ok || !v.VerifiesRuns() {
		return nil
	}
	h, _ := pages.(headPages)
	return h
}

// runOverlap returns the first page of the run at id that s holds, if
// any, reading the run's header from h (headFirst; nil: false). Callers
// ask once s is wary.
//
// NB: a Run that checksums the run pays for the CRC before the caller
// can see that the run overlaps pages walked before: a hostile file
// whose runs each start a page before the last and overlap it (or fail
// their CRC, which FreeAll passes over) cost 1+2+...+n pages of CRC, and
// a run may be 2^20 pages long. With its header first, a run that
// overlaps is refused at no cost; the first one costs its CRC, as it
// makes s wary. (Rejected: reading every header first. A second header
// check for every page cost Check of 1M keys some 5%. Rejected too:
// adding the run to s before its CRC. A run whose CRC fails may have a
// damaged length, and its length's worth of other runs' pages would be
// taken as seen.)
func (s *PageSet) runOverlap(h headPages, id page.ID, kind page.Flags, sum uint32, pageSize int) (dup page.ID, n int, twice bool) {
	if h == nil {
		return 0, 0, false
	}
	p, err := h.RunHead(id, kind, sum)
	if err != nil {
		return 0, 0, false // Run reports it
	}
	n = len(p) / pageSize
	dup, twice = s.firstIn(id, n)
	return dup, n, twice
}

// overRead reports whether checksumming a run of n pages more would take
// the walks past reading as many pages as the file has (high): runs that
// do not overlap never do, and a hostile file's runs that each lie
// inside the one before and fail their CRC start at increasing pages,
// so runOverlap finds no page walked before (a failed run marks its
// first page only) and each cost its length in CRC, quadratic in all.
// (Rejected: marking a failed run's pages, which a damaged length would
// claim from healthy runs, as runOverlap's NB says.)
func (s *PageSet) overRead(n int) bool {
	return s.high != 0 && s.read+uint64(n) > uint64(s.high)
}

func errOverRead(id page.ID, n int, s *PageSet) error {
	return page.Corruptf(id, "run length", fmt.Sprintf("runs that do not overlap (the walk has checksummed %d of the file's %d pages)", s.read, s.high),
		fmt.Sprintf("%d pages more, not read", n))
}

// firstTwice reports whether page id is reached twice for the first
// time, so that a page a branch repeats a hundred times is one problem.
func (s *PageSet) firstTwice(id page.ID) bool {
	s.wary = true
	if s.twice[id] {
		return false
	}
	if s.twice == nil {
		s.twice = map[page.ID]bool{}
	}
	s.twice[id] = true
	return true
}

func errTwice(id page.ID) error {
	return page.Corruptf(id, "references", "reachable once", "reachable twice (shared by two parents, or a cycle)")
}

// Walk visits the tree's committed pages (not this transaction's changes)
// and checks them: header, checksum (recomputed when verify is set), key
// order inside each page, every key within its parent's separators, all
// leaves at one depth, large-value runs.
//
// An inline tree's leaf is walked as a leaf page is, with no call of Page
// (it has no page of its own); its problems name the page holding it.
func (t *Tree) Walk(verify bool, w Walker) {
	if t.root == 0 && t.inline != nil {
		wk := walk{t: t, w: w, leafDepth: -1, seen: w.Seen}
		if wk.seen == nil {
			wk.seen = &PageSet{}
		}
		wk.elems(t.inline, t.inlineFrom, nil, nil, 0)
		return
	}
	if t.root == 0 {
		return
	}
	// A page source that verifies every run it returns (Check's) has done
	// the CRC already: a second one cost about a third of Check's CPU.
	if v, ok := t.pages.(interface{ VerifiesRuns() bool }); ok && v.VerifiesRuns() {
		verify = false
	}
	wk := walk{t: t, w: w, verify: verify, leafDepth: -1, seen: w.Seen}
	if wk.seen == nil {
		wk.seen = &PageSet{}
	}
	wk.node(t.root, t.rootSum, nil, nil, 0)
}

type walk struct {
	t         *Tree
	w         Walker
	verify    bool
	leafDepth int
	seen      *PageSet
}

func (wk *walk) twice(id page.ID) {
	if wk.seen.firstTwice(id) {
		wk.problem(errTwice(id))
	}
}

// key is key as problems name it (Walker.Key).
func (wk *walk) key(key []byte) string {
	if wk.w.Key != nil {
		return wk.w.Key(key)
	}
	return fmt.Sprintf("%q", key)
}

func (wk *walk) problem(err error) {
	if wk.w.Problem != nil {
		wk.w.Problem(err)
	}
}

// run reads and checks one run, reporting a recomputed-CRC mismatch; nil
// if it cannot be read or was reached before.
func (wk *walk) run(id page.ID, kind page.Flags, sum uint32, depth int) []byte {
	if wk.seen.has(id) {
		wk.twice(id)
		return nil
	}
	n := 0 // the run's length from its header, read once wary
	if wk.seen.wary {
		var refused bool
		if n, refused = wk.overlaps(id, kind, sum, depth); refused {
			return nil
		}
	}
	p, err := wk.t.pages.Run(id, kind, sum)
	if err != nil {
		// NB: marked too: a run whose checksum fails failed after reading
		// all of it, and a thousand references would read it a thousand
		// times.
		wk.seen.add(id, 1)
		wk.seen.read += uint64(max(n, 1))
		wk.seen.wary = true
		wk.problem(err)
		// The page is still referenced: account for it (one page, its
		// real length unknown) so it is not also reported as leaked.
		if wk.w.Page != nil && id >= 2 {
			wk.w.Page(id, 1, kind, depth)
		}
		return nil
	}
	wk.seen.read += uint64(len(p) / wk.t.pages.PageSize())
	if dup, twice := wk.seen.add(id, len(p)/wk.t.pages.PageSize()); twice {
		// Overlaps a run walked before: not walked, its other pages then
		// count as unreachable.
		wk.twice(dup)
		return nil
	}
	if wk.verify {
		if got := page.Checksum(p); got != page.PageChecksum(p) {
			wk.problem(page.Corruptf(id, "checksum", fmt.Sprintf("%#08x", page.PageChecksum(p)), fmt.Sprintf("%#08x", got)))
		}
	}
	if tx := page.PageTxID(p); wk.w.MaxTxID != 0 && tx > wk.w.MaxTxID {
		wk.problem(page.Corruptf(id, "txid in header", fmt.Sprintf("<= %d (the meta's)", wk.w.MaxTxID), fmt.Sprint(tx)))
	}
	if wk.w.Page != nil {
		wk.w.Page(id, len(p)/wk.t.pages.PageSize(), page.PageFlags(p), depth)
	}
	return p
}

// overlaps reports whether the run at id overlaps pages walked before,
// from its header (runOverlap), or would take the walks past reading the
// file's worth of pages (overRead), and if so, reports the problem as run
// does for an overlap it finds after Run. n is the run's length from its
// header (0 if unread).
//
// NB: headFirst is asked here, on the wary path only. Asked once in Walk
// and kept in the walk, it made Check's page source escape to the heap
// (5 allocations more a Check) and Check of 1M keys some 8% slower,
// without a header ever being read (BenchmarkCheck, 8 alternating runs).
func (wk *walk) overlaps(id page.ID, kind page.Flags, sum uint32, depth int) (n int, refused bool) {
	dup, n, twice := wk.seen.runOverlap(headFirst(wk.t.pages), id, kind, sum, wk.t.pages.PageSize())
	switch {
	case twice:
		wk.seen.add(id, n)
		wk.twice(dup)
	case wk.seen.overRead(n):
		wk.seen.add(id, 1)
		wk.problem(errOverRead(id, n, wk.seen))
		// Referenced: accounted for as a run that cannot be read is.
		if wk.w.Page != nil && id >= 2 {
			wk.w.Page(id, 1, kind, depth)
		}
	default:
		return n, false
	}
	return n, true
}

// node walks the subtree at id whose keys must lie in [lo, hi) (nil: open).
func (wk *walk) node(id page.ID, sum uint32, lo, hi []byte, depth int) {
	if depth >= MaxDepth {
		wk.problem(errDepth(id))
		return
	}
	p := wk.run(id, page.FlagBranch|page.FlagLeaf, sum, depth)
	if p == nil {
		return
	}
	wk.elems(p, id, lo, hi, depth)
}

// elems walks the elements of node p, read from page id, at depth.
func (wk *walk) elems(p []byte, id page.ID, lo, hi []byte, depth int) {
	leaf := page.PageFlags(p) == page.FlagLeaf
	elem := page.BranchElemSize
	if leaf {
		elem = page.LeafElemSize
		if wk.leafDepth < 0 {
			wk.leafDepth = depth
		} else if wk.leafDepth != depth {
			wk.problem(page.Corruptf(id, "leaf depth", fmt.Sprint(wk.leafDepth), fmt.Sprint(depth)))
		}
	}
	count, err := page.CheckElems(p, id, elem)
	if err != nil {
		wk.problem(err)
		return
	}
	var prev []byte
	for i := 0; i < count; i++ {
		var key []byte
		var ok bool
		if leaf {
			key, ok = page.LeafKey(p, i)
		} else {
			key, ok = page.BranchKey(p, i)
		}
		if !ok {
			wk.problem(page.ElemError(id, i))
			return
		}
		switch {
		case i > 0 && bytes.Compare(prev, key) >= 0:
			wk.problem(page.Corruptf(id, fmt.Sprintf("key order at element %d", i), "> "+wk.key(prev), wk.key(key)))
		case i == 0 && lo != nil && bytes.Compare(key, lo) < 0:
			wk.problem(page.Corruptf(id, "first key vs parent separator", ">= "+wk.key(lo), wk.key(key)))
		case hi != nil && bytes.Compare(key, hi) >= 0:
			wk.problem(page.Corruptf(id, fmt.Sprintf("key %d vs next separator in parent", i), "< "+wk.key(hi), wk.key(key)))
		}
		if leaf && len(key) == 0 {
			// Put refuses an empty key (a dump holding one does not load).
			wk.problem(page.Corruptf(id, fmt.Sprintf("key %d", i), "1 byte or more", "empty"))
		}
		if page.Hint(p, i) != page.KeyHint(key) {
			wk.problem(page.Corruptf(id, fmt.Sprintf("key hint %d", i), fmt.Sprintf("%#x", page.KeyHint(key)), fmt.Sprintf("%#x", page.Hint(p, i))))
		}
		prev = key
		if leaf {
			wk.leafElem(p, id, i, key, depth)
			continue
		}
		childLo := key
		if i == 0 {
			childLo = lo
		}
		var childHi []byte = hi
		if i+1 < count {
			if k, ok := page.BranchKey(p, i+1); ok {
				childHi = k
			}
		}
		child, csum := page.BranchChild(p, i)
		wk.node(child, csum, childLo, childHi, depth+1)
	}
}

func (wk *walk) leafElem(p []byte, id page.ID, i int, key []byte, depth int) {
	flags, v, ok := page.LeafValue(p, i)
	if !ok {
		wk.problem(page.ElemError(id, i))
		return
	}
	if flags&^(page.LeafBucket|page.LeafLarge) != 0 || flags == page.LeafBucket|page.LeafLarge {
		wk.problem(page.Corruptf(id, fmt.Sprintf("element %d flags", i), "0, bucket or large", fmt.Sprintf("%#x", flags)))
		return
	}
	if flags&page.LeafLarge != 0 {
		ref, err := page.DecodeLargeRef(v, id)
		if err != nil {
			wk.problem(err)
			return
		}
		if q := wk.run(ref.Page, page.FlagLarge, ref.Sum, depth+1); q != nil {
			if _, err := page.LargeValue(q, ref); err != nil {
				wk.problem(err)
			}
		}
	}
	if wk.w.Elem != nil {
		wk.w.Elem(key, v, flags)
	}
}

// FreeAll gives back every page of the tree, committed or materialised,
// large-value runs included, and calls nested with the page, key and
// stored header of each nested bucket (its tree is the caller's to free,
// with the same seen). seen holds the pages freed so far, across trees
// (nil: this call's own): a page reached twice, as a hostile file's
// branches or bucket headers can make happen, is ErrCorrupt, not freed
// twice. The tree is empty afterwards.
//
// NB: on an error some pages are freed already: the caller must fail the
// transaction (tx does, for every ErrCorrupt).
func (t *Tree) FreeAll(seen *PageSet, nested func(from page.ID, key, header []byte) error) error {
	t.dropPath()
	if seen == nil {
		seen = &PageSet{}
	}
	f := freeing{t: t, seen: seen, nested: nested}
	var err error
	if t.rootNode != nil {
		err = f.node(t.rootNode)
	} else if t.root != 0 {
		err = f.committed(t.root, t.rootSum, 0)
	}
	// An inline tree owns no pages, and no nested bucket or large value
	// (page.CheckInlineLeaf).
	t.rootNode, t.root, t.rootSum, t.inline = nil, 0, 0, nil
	return err
}

type freeing struct {
	t      *Tree
	seen   *PageSet
	nested func(from page.ID, key, header []byte) error
}

func (f *freeing) node(n *Node) error {
	id := n.id
	if id != 0 {
		if dup, twice := f.seen.add(id, n.pages); twice {
			return errTwice(dup)
		}
	}
	f.t.discard(n)
	for i := range n.inodes {
		in := &n.inodes[i]
		var err error
		switch {
		case n.leaf:
			err = f.value(in.key(), in.flags, in.value(), id)
		case in.node != nil:
			err = f.node(in.node)
		default:
			err = f.committed(in.child, in.sum, 1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *freeing) committed(id page.ID, sum uint32, depth int) error {
	if depth >= MaxDepth {
		return errDepth(id)
	}
	if f.seen.has(id) {
		return errTwice(id)
	}
	p, err := f.t.pages.Run(id, page.FlagBranch|page.FlagLeaf, sum)
	if err != nil {
		return err
	}
	// Checked whole, as materialise checks a page a write copies: it is
	// freed as long as its header says, and without VerifyChecksums Run
	// compares only the header's checksum field, so a damaged overflow
	// count freed the page after it, another bucket's, which later
	// commits overwrote (TestDeleteBucketDamagedNodeLength).
	if v, ok := f.t.pages.(verifyingPages); !ok || !v.VerifiesRuns() {
		if err := page.VerifyChecksum(p, id, sum); err != nil {
			return err
		}
	}
	pages := len(p) / f.t.pages.PageSize()
	if dup, twice := f.seen.add(id, pages); twice {
		return errTwice(dup)
	}
	leaf := page.PageFlags(p) == page.FlagLeaf
	elem := page.BranchElemSize
	if leaf {
		elem = page.LeafElemSize
	}
	count, err := page.CheckElems(p, id, elem)
	if err != nil {
		return err
	}
	for i := 0; i < count; i++ {
		if leaf {
			flags, v, ok := page.LeafValue(p, i)
			k, kok := page.LeafKey(p, i)
			if !ok || !kok {
				return page.ElemError(id, i)
			}
			if err := f.value(k, flags, v, id); err != nil {
				return err
			}
			continue
		}
		c, csum := page.BranchChild(p, i)
		if err := f.committed(c, csum, depth+1); err != nil {
			return err
		}
	}
	f.t.pages.Free(id, pages)
	return nil
}

// value frees what a leaf element owns: a large value's run (as
// Tree.freeValue does, and only once), or hands a nested bucket to nested.
func (f *freeing) value(key []byte, flags uint32, v []byte, from page.ID) error {
	if flags&page.LeafBucket != 0 {
		if f.nested == nil {
			return nil
		}
		return f.nested(from, key, v)
	}
	if flags&page.LeafLarge == 0 || flags&largePending != 0 {
		return nil
	}
	ref, err := page.DecodeLargeRef(v, from)
	if err != nil {
		return nil // as freeValue: nothing proves which run it was
	}
	if f.seen.has(ref.Page) {
		return errTwice(ref.Page)
	}
	// A run whose Run fails is passed over, not an error: without this,
	// runs that overlap and fail their CRC would each be checksummed.
	n := 0
	if f.seen.wary {
		dup, m, twice := f.seen.runOverlap(headFirst(f.t.pages), ref.Page, page.FlagLarge, ref.Sum, f.t.pages.PageSize())
		if twice {
			return errTwice(dup)
		}
		if f.seen.overRead(m) {
			f.seen.add(ref.Page, 1)
			return nil // passed over, as a run that fails
		}
		n = m
	}
	p, err := f.t.pages.Run(ref.Page, page.FlagLarge, ref.Sum)
	if err == nil {
		// As freeValue: a header claiming more or fewer pages than the
		// size needs is damaged, and may claim pages in use.
		_, err = page.LargeValue(p, ref)
	}
	if err != nil {
		// As freeValue: the run stays allocated, and Check reports it.
		f.seen.add(ref.Page, 1)
		f.seen.read += uint64(max(n, 1))
		f.seen.wary = true
		return nil
	}
	pages := len(p) / f.t.pages.PageSize()
	f.seen.read += uint64(pages)
	if dup, twice := f.seen.add(ref.Page, pages); twice {
		return errTwice(dup)
	}
	f.t.pages.Free(ref.Page, pages)
	return nil
}
