package btree

import (
	"bytes"
	"fmt"
	"math"

	"github.com/foliodb/folio/page"
)

// frame is one level of a cursor's path: a committed run p, or a
// materialised node n (which then wins: it holds this transaction's view).
//
// INVARIANT 1: count is p's checked element count and means nothing for a
// node; a node's length is read live (len). A Bucket.Put or Delete while
// the cursor is open grows or shrinks the node under it, and a cached
// count would index past the end (bbolt's elemRef.count reads it live
// too). The fast paths of Next and Prev run on committed leaves only, so
// a scan pays nothing for it.
//
// INVARIANT 2: index may lie outside [0, len()) once the tree changed
// under the cursor, or at rest past either end (an empty leaf, a Seek
// past the last key, a Delete of a leaf's last element): every read of
// an element checks it first.
type frame struct {
	p     []byte
	id    page.ID
	n     *Node
	count int
	index int
	// ahead is the last child prefetchNext asked for (0: none yet), and
	// behind the first child prefetchPrev asked for (count: none yet).
	ahead, behind int
}

// Cursor walks a tree in key order. Methods return nil keys at either end
// or on error; Err reports the first error met (a corrupt page), after
// which the cursor stays at its end. A Next or Prev off an end leaves the
// cursor on the last (first) element, and a Seek past the last key just
// past it, so a move back returns the element there, as in bbolt.
//
// A change to the tree while a cursor is open (Tree.Put, Tree.Delete)
// never makes it panic or fail: it reads the nodes as they are now, and
// may skip or repeat an element near the change, as bbolt's does.
//
// Keys and values alias the mapping or the transaction's nodes: valid
// until the transaction ends, or in a write transaction until the next
// change to the tree.
type Cursor struct {
	t     *Tree
	depth int
	stack [MaxDepth]frame
	// deleted is set by Delete: the leaf index already points at the next
	// element, so the following Next must not advance (bbolt skips one).
	deleted bool
	// key is the key of the element the cursor last returned, or rests
	// on after a Next or Prev that returned none (settle; nil past the
	// end, or after a First, Last or Seek that found none): in a
	// materialised leaf, Delete removes that one. With deleted, it is
	// the key deleted (or found gone), and the cursor rests before the
	// first key after it.
	// NB: in a materialised leaf the index alone does not say which: a
	// Bucket.Put or Delete since the move shifts the node's elements
	// under it, and the index then names a neighbour (a committed page's
	// bytes do not change, so there the element at the index is it).
	key []byte
	// gen is the tree's gen when the cursor last went down from the root
	// or deleted: if it is the tree's, nothing changed the tree since,
	// and the frames are the tree as it is.
	gen uint64
	// leaves counts the committed leaves moved onto since the last
	// descent from the root, less those moved back onto (countLeaf);
	// maxLeaves bounds it either way (0: not known yet).
	leaves, maxLeaves int
	err               error
	// mapping and pageSize, when Map set them, say where committed pages
	// lie, for prefetchNext and prefetchPrev.
	mapping  []byte
	pageSize int
	// strict: scans and Seek check key order (SetStrict).
	strict bool
	// steps counts the nodes and pages the cursor moved onto from their
	// parents: what its moves cost, for tests (not reset).
	steps int
}

// NewCursor returns a cursor over t, positioned nowhere.
func (t *Tree) NewCursor() *Cursor { return &Cursor{t: t} }

// Reset reuses c for tree t.
func (c *Cursor) Reset(t *Tree) {
	c.t, c.depth, c.deleted, c.err, c.maxLeaves, c.key = t, 0, false, nil, 0, nil
	c.mapping, c.pageSize, c.strict = nil, 0, false
}

// SetStrict makes the cursor check key order where the tree's pages meet,
// failing with ErrCorrupt naming the leaf: a scan moving onto the next
// committed leaf compares the keys either side, and Seek checks that the
// key it lands on sorts before the separator of its leaf's next sibling.
// Where a leaf's keys pass its neighbour's (every checksum intact), a
// scan would serve them out of order and Seek return one ahead of smaller
// keys. The compares read key bytes a scan otherwise never touches: two
// cache misses a leaf cost a 1M-key scan out of cache a third of its rate
// (bench W4, 75M to 50M keys/s), and Seek ~5%. So they are for files not
// trusted (VerifyChecksums); Get makes no such check.
func (c *Cursor) SetStrict(on bool) { c.strict = on }

// Map tells c that committed page id starts at mapping[id*pageSize:], so
// that a scan can ask the CPU for the leaves ahead early (prefetchNext,
// prefetchPrev).
// Only a hint: c reads every page through Pages.Run and its checks, and
// never reads mapping itself; nil turns prefetching off.
func (c *Cursor) Map(mapping []byte, pageSize int) {
	c.mapping, c.pageSize = mapping, pageSize
}

// Err is the first error the cursor met.
func (c *Cursor) Err() error { return c.err }

func (c *Cursor) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.depth = 0
}

// pushRoot starts a descent at the root; false if the tree is empty.
func (c *Cursor) pushRoot() bool {
	c.depth = 0
	c.deleted, c.leaves, c.key, c.gen = false, 0, nil, c.t.gen
	if c.err != nil {
		return false
	}
	if n := c.t.rootNode; n != nil {
		c.stack[0] = frame{n: n, id: n.id}
		c.depth = 1
		return true
	}
	if c.t.root == 0 && c.t.inline != nil {
		// A leaf like a page's, named by the page holding it in errors.
		p, id := c.t.inline, c.t.inlineFrom
		count, err := page.CheckElems(p, id, page.LeafElemSize)
		if err != nil {
			c.fail(err)
			return false
		}
		c.stack[0] = frame{p: p, id: id, count: count, behind: count}
		c.depth = 1
		c.steps++
		return true
	}
	if c.t.root == 0 {
		return false
	}
	return c.pushPage(c.t.root, c.t.rootSum)
}

func (c *Cursor) pushPage(id page.ID, sum uint32) bool {
	if c.depth >= MaxDepth {
		c.fail(errDepth(id))
		return false
	}
	p, err := c.t.pages.Run(id, page.FlagBranch|page.FlagLeaf, sum)
	if err != nil {
		c.fail(err)
		return false
	}
	elem := page.BranchElemSize
	if page.PageFlags(p) == page.FlagLeaf {
		elem = page.LeafElemSize
	}
	count, err := page.CheckElems(p, id, elem)
	if err != nil {
		c.fail(err)
		return false
	}
	c.stack[c.depth] = frame{p: p, id: id, count: count, behind: count}
	c.depth++
	c.steps++
	return true
}

// A scanning cursor asks for the leaves ahead in bursts: once fewer than
// prefetchLow leaves after the current one have been asked for, it asks
// for the rest up to prefetchHigh leaves ahead (up to seven at once),
// each prefetchLines cache lines (the header, the hints and the first
// elements; the CPU's own prefetcher follows the rest of the element
// array once the cursor reads it). Measured on W4 (1e6 keys, 16-byte
// keys, 100-byte values, 4 KiB pages; keys/s, medians of 6 interleaved
// runs): no prefetch 28M; the next two leaves at every leaf 61M; bursts
// 70M. Bursts win because a prefetch missing the TLB holds the
// instructions behind it until the page walk is done, and walks started
// together overlap. One line a leaf instead of eight gained a third as
// much; twelve or sixteen lines, or bursts up to 16 ahead, no more.
const (
	prefetchLow   = 2
	prefetchHigh  = 8
	prefetchLines = 8
)

// prefetchNext asks the CPU for the leaves after the one parent's index
// points at, while the cursor reads this one. A scan is bound by the
// first touch of each leaf (a TLB miss and a cache miss: the leaves of a
// tree grown by random puts lie anywhere in the file); the next leaves'
// ids are in the parent, already cached.
//
// NB: a prefetch instruction, not a Go load: a load that misses holds up
// the instructions behind it until its data comes, so touching the next
// leaves early gained little (W4: 33M keys/s against 30M without, 57M with
// PREFETCHT0 of the same two leaves).
//
// Near the parent's last child the bursts go on into the next parent, a
// child of grand: the burst that first reaches the edge asks for that
// parent's page, the next one reads it (readAhead: through Pages.Run and
// its checks, as the cursor would) and asks for its first leaves. So the
// parent page and its first leaf no longer miss once a fanout (about 63
// leaves in BenchmarkScan): keys=1e6, 20 interleaved runs, medians 10.89
// to 10.57 ns/key forward (not significant, p=0.19), 11.11 to 10.35
// backward (p<0.001).
func (c *Cursor) prefetchNext(parent, grand *frame) {
	if parent.n != nil {
		return
	}
	start := parent.index + 1
	if parent.ahead >= start {
		if parent.ahead-parent.index >= prefetchLow {
			return
		}
		start = parent.ahead + 1
	}
	end := parent.index + 1 + prefetchHigh
	for i := start; i < min(end, parent.count); i++ {
		c.prefetchChild(parent.p, i)
	}
	parent.ahead = min(end, parent.count) - 1
	if end <= parent.count || grand == nil || grand.n != nil || grand.index+1 >= grand.count {
		return
	}
	// The burst runs past this parent's last child: on into the next
	// parent's first children, child count+i of this one being its i.
	id, sum := page.BranchChild(grand.p, grand.index+1)
	if start < parent.count {
		c.prefetchPage(id)
		return
	}
	next, count, ok := c.readAhead(id, sum)
	if !ok {
		return
	}
	for i := start; i < min(end, parent.count+count); i++ {
		c.prefetchChild(next, i-parent.count)
	}
	parent.ahead = end - 1
}

// prefetchPrev is prefetchNext for a cursor moving backward: it asks for
// the leaves before the one parent's index points at, in the same bursts.
func (c *Cursor) prefetchPrev(parent, grand *frame) {
	if parent.n != nil {
		return
	}
	start := parent.index - 1
	if parent.behind <= start {
		if parent.index-parent.behind >= prefetchLow {
			return
		}
		start = parent.behind - 1
	}
	first := parent.index - prefetchHigh
	for i := start; i >= max(first, 0); i-- {
		c.prefetchChild(parent.p, i)
	}
	parent.behind = max(first, 0)
	if first >= 0 || grand == nil || grand.n != nil || grand.index == 0 {
		return
	}
	// Child -1-i of this parent is the previous parent's count-1-i.
	id, sum := page.BranchChild(grand.p, grand.index-1)
	if start >= 0 {
		c.prefetchPage(id)
		return
	}
	prev, count, ok := c.readAhead(id, sum)
	if !ok {
		return
	}
	for i := start; i >= max(first, -count); i-- {
		c.prefetchChild(prev, count+i)
	}
	parent.behind = first
}

// prefetchChild asks for the first prefetchLines lines of child i of the
// committed branch p. REQUIRES: 0 <= i < p's checked count.
func (c *Cursor) prefetchChild(p []byte, i int) {
	id, _ := page.BranchChild(p, i)
	c.prefetchAt(id, prefetchLines)
}

// prefetchPage asks for all of page id: a parent of leaves whose child
// ids the next burst will read (readAhead).
func (c *Cursor) prefetchPage(id page.ID) { c.prefetchAt(id, c.pageSize/64) }

// prefetchAt asks for lines cache lines of page id. An id from a damaged
// page may be anything; the bounds check keeps the address inside the
// mapping, and a prefetch of the wrong page is harmless.
func (c *Cursor) prefetchAt(id page.ID, lines int) {
	if off := uint64(id) * uint64(c.pageSize); off < uint64(len(c.mapping)) {
		prefetch(&c.mapping[off], lines)
	}
}

// readAhead reads the branch id, one the cursor has not reached, through
// Pages.Run and its checks, for its child ids; false if it is not a sound
// branch, an error left for the cursor to meet if it gets there.
func (c *Cursor) readAhead(id page.ID, sum uint32) ([]byte, int, bool) {
	p, err := c.t.pages.Run(id, page.FlagBranch, sum)
	if err != nil {
		return nil, 0, false
	}
	count, err := page.CheckElems(p, id, page.BranchElemSize)
	if err != nil {
		return nil, 0, false
	}
	return p, count, true
}

// len is the number of elements at this level (invariant 1).
func (f *frame) len() int {
	if f.n != nil {
		return len(f.n.inodes)
	}
	return f.count
}

func (f *frame) isLeaf() bool {
	if f.n != nil {
		return f.n.leaf
	}
	return page.PageFlags(f.p) == page.FlagLeaf
}

// pushChild descends into the child at the top frame's index.
func (c *Cursor) pushChild() bool {
	f := &c.stack[c.depth-1]
	if f.n != nil {
		// INVARIANT 2: next, prev, last and Seek set index within the
		// node's live length before they descend; the check keeps a
		// broken promise from indexing past it (the cursor stops, as at
		// an end) rather than panicking in the caller's transaction.
		if uint(f.index) >= uint(len(f.n.inodes)) {
			return false
		}
		in := &f.n.inodes[f.index]
		if in.node != nil {
			if c.depth >= MaxDepth {
				c.fail(errDepth(in.node.id))
				return false
			}
			c.stack[c.depth] = frame{n: in.node, id: in.node.id}
			c.depth++
			c.steps++
			return true
		}
		return c.pushPage(in.child, in.sum)
	}
	id, sum := page.BranchChild(f.p, f.index)
	return c.pushPage(id, sum)
}

// first descends from the top frame to the first leaf element under it.
func (c *Cursor) first() bool {
	for {
		f := &c.stack[c.depth-1]
		if f.isLeaf() {
			return true
		}
		if f.len() == 0 {
			return true // an emptied branch; next() moves on
		}
		if !c.pushChild() {
			return false
		}
	}
}

// last descends from the top frame, at its current index, to the last
// leaf element under it.
func (c *Cursor) last() bool {
	for {
		f := &c.stack[c.depth-1]
		if f.isLeaf() || f.len() == 0 {
			return true
		}
		if !c.pushChild() {
			return false
		}
		g := &c.stack[c.depth-1]
		g.index = g.len() - 1
	}
}

// next moves to the next leaf element; false at the end.
//
// At the end the cursor stays where it was, as bbolt's does: on the last
// element, or past it (after a Seek beyond the last key, or a Delete of
// it), so Prev goes on from there; the idiom Seek(end); Prev() for a
// reverse range depends on it. Only an error empties the stack (fail).
func (c *Cursor) next() bool { return c.nextOrBack(true) }

// nextOrBack is next; back says whether to return to where it started
// when it fails after moving: over empty leaves (a tree's only leaf
// emptied, whose chain of parents Deletes leave until the commit
// rebalances, or a damaged file's; Deletes take other emptied leaves
// out at once: dropEmpty). (bbolt stays on the empty leaf, so what Prev
// returns next depends on where leaves split; here it does not.)
func (c *Cursor) nextOrBack(back bool) bool {
	if k := c.strayKey(); k != nil {
		return c.reseek(k, 1, back)
	}
	past := false
	if f := &c.stack[c.depth-1]; f.index >= f.len() {
		past = true
	}
	for moved := false; ; moved = true {
		i := c.depth - 1
		for ; i >= 0; i-- {
			f := &c.stack[i]
			if f.index < f.len()-1 {
				f.index++
				break
			}
		}
		if i < 0 {
			if moved && back && c.prevOrBack(false) && past {
				c.stack[c.depth-1].index++
			}
			return false
		}
		c.depth = i + 1
		if !c.first() {
			return false
		}
		if f := &c.stack[c.depth-1]; f.isLeaf() && f.len() > 0 {
			c.scanning()
			return true
		}
	}
}

// strayKey returns, if the cursor's path has left the tree, the key
// where it stands, to find its place again by (reseek); nil if the path
// is the tree's, or no key says where the cursor is.
//
// The path leaves the tree when a materialised frame's index no longer
// names the next frame's node (or page): a delete took that child out
// (dropEmpty), or children before it, or a Put split it or a child
// before it (splitPath). Its indices would then step over a child, or
// onto one again. (A path of committed pages below the last
// materialised frame is one snapshot, as the file was: a scan reads it
// as it did before the tree changed.)
//
// The key: the one the cursor last returned or rests on in a
// materialised leaf, or deleted (key), else the one at its index in a
// committed leaf (the fast paths do not set key). The cursor goes on to
// the first key after it, or the last before it. (At rest past the end,
// after a Seek past the last key, there is none: it goes back by its
// indices, as before.)
func (c *Cursor) strayKey() []byte {
	if c.depth < 2 {
		return nil
	}
	stray := c.stack[0].n != nil && c.stack[0].n != c.t.rootNode
	for i := 0; !stray && i < c.depth-1; i++ {
		f := &c.stack[i]
		if f.n == nil {
			return nil // committed pages from here down
		}
		stray = uint(f.index) >= uint(len(f.n.inodes)) || !f.n.inodes[f.index].is(&c.stack[i+1])
	}
	if !stray {
		return nil
	}
	f := &c.stack[c.depth-1]
	switch {
	case f.n != nil:
		return c.key
	case f.count == 0 || !f.isLeaf():
		return nil
	}
	k, _ := page.LeafKey(f.p, min(max(f.index, 0), f.count-1))
	return k
}

// is reports whether the branch element in names the child frame g.
func (in *inode) is(g *frame) bool {
	if g.n != nil {
		return in.node == g.n
	}
	return in.child == g.id // a node read from g's page keeps its id in child
}

// reseek is nextOrBack (dir 1) or prevOrBack (-1) for a cursor whose
// path left the tree (strayKey): it goes down from the root, as Seek
// does, to the first key after k or the last before it. deleted and key
// stay as they were, and so does leaves: a scan that goes down again at
// every leaf it empties still meets countLeaf's bound.
func (c *Cursor) reseek(k []byte, dir int, back bool) bool {
	deleted, key, leaves := c.deleted, c.key, c.leaves
	ok := c.descend(k)
	c.deleted, c.key, c.leaves = deleted, key, leaves
	if !ok {
		return false
	}
	f := &c.stack[c.depth-1]
	switch {
	case dir < 0:
		return c.prevOrBack(back) // from the first key >= k (or past them)
	case f.index >= f.len():
		return c.nextOrBack(back)
	}
	if ek, _, ok := c.elemKey(f); ok && bytes.Equal(ek, k) {
		return c.nextOrBack(back) // k is there (put again): the one after it
	}
	return true
}

// scanning is called when the cursor moves forward onto a leaf (First,
// or Next leaving a leaf), where a scan is likely to go on: it
// prefetches the leaves after this one. Seek does not: after a point
// lookup the burst would be wasted (BenchmarkSeekNext op=seek, keys=1e4:
// +16% with it), and a range scan from there starts bursts on its first
// new leaf.
func (c *Cursor) scanning() {
	if c.mapping != nil && c.depth >= 2 {
		c.prefetchNext(&c.stack[c.depth-2], c.grandparent())
	}
}

// grandparent is the frame above the top leaf's parent, nil if none.
func (c *Cursor) grandparent() *frame {
	if c.depth < 3 {
		return nil
	}
	return &c.stack[c.depth-3]
}

// scanningBackward is scanning for a cursor moving backward onto a leaf
// (Last, or Prev leaving a leaf): it prefetches the leaves before this one.
func (c *Cursor) scanningBackward() {
	if c.mapping != nil && c.depth >= 2 {
		c.prefetchPrev(&c.stack[c.depth-2], c.grandparent())
	}
}

// prev moves to the previous leaf element; false at the start.
//
// At the start the cursor stays on the first element, as bbolt's does
// (its prev calls first), so Next goes on from there with the second.
func (c *Cursor) prev() bool { return c.prevOrBack(true) }

// prevOrBack is prev; back as for nextOrBack.
func (c *Cursor) prevOrBack(back bool) bool {
	if k := c.strayKey(); k != nil {
		return c.reseek(k, -1, back)
	}
	for moved := false; ; moved = true {
		i := c.depth - 1
		for ; i >= 0; i-- {
			f := &c.stack[i]
			// min: a node may have lost elements since the cursor
			// moved (invariant 2).
			if j := min(f.index, f.len()); j > 0 {
				f.index = j - 1
				break
			}
		}
		if i < 0 {
			// At the start the cursor stays on the first element: it
			// goes back there if it moved over empty leaves, or if it
			// rests on none (a Delete emptied its leaf, and what
			// followed is the next leaf's first; Next would return it
			// again).
			if back && c.depth > 0 {
				if f := &c.stack[c.depth-1]; moved || f.index >= f.len() {
					c.nextOrBack(false)
				}
			}
			return false
		}
		c.depth = i + 1
		if !c.last() {
			return false
		}
		if f := &c.stack[c.depth-1]; f.isLeaf() && f.len() > 0 {
			c.scanningBackward()
			return true
		}
	}
}

// current returns the leaf element under the cursor.
func (c *Cursor) current() ([]byte, []byte, uint32) {
	if c.depth == 0 {
		return nil, nil, 0
	}
	f := &c.stack[c.depth-1]
	if uint(f.index) >= uint(f.len()) || !f.isLeaf() { // invariant 2
		return nil, nil, 0
	}
	var k, v []byte
	var flags uint32
	if f.n != nil {
		in := &f.n.inodes[f.index]
		k, v, flags = in.key(), in.value(), in.flags
	} else {
		var ok bool
		if flags, k, v, ok = page.LeafElem(f.p, f.count, f.index); !ok {
			c.fail(page.ElemError(f.id, f.index))
			return nil, nil, 0
		}
		if flags&largePending != 0 {
			c.fail(errMemoryFlag(f.id, f.index, flags))
			return nil, nil, 0
		}
	}
	if flags&page.LeafLarge != 0 {
		var err error
		if v, err = c.t.resolve(flags, v, f.id); err != nil {
			c.fail(err)
			return nil, nil, 0
		}
	}
	c.key = k
	return k, v, flags &^ largePending
}

// First moves to the first element.
func (c *Cursor) First() ([]byte, []byte, uint32) {
	if !c.pushRoot() || !c.first() {
		return nil, nil, 0
	}
	if f := &c.stack[c.depth-1]; f.len() == 0 {
		if !c.next() {
			return nil, nil, 0
		}
	} else {
		c.scanning()
	}
	return c.current()
}

// Last moves to the last element.
func (c *Cursor) Last() ([]byte, []byte, uint32) {
	if !c.pushRoot() {
		return nil, nil, 0
	}
	c.stack[0].index = max(c.stack[0].len()-1, 0)
	if !c.last() {
		return nil, nil, 0
	}
	if f := &c.stack[c.depth-1]; f.len() == 0 {
		if !c.prev() {
			return nil, nil, 0
		}
	} else {
		c.scanningBackward()
	}
	return c.current()
}

// Next moves to the next element.
func (c *Cursor) Next() ([]byte, []byte, uint32) {
	if c.depth == 0 {
		return nil, nil, 0
	}
	// Fast path: the next element is on the same committed leaf.
	if f := &c.stack[c.depth-1]; f.n == nil && !c.deleted && f.index+1 < f.count {
		f.index++
		flags, k, v, ok := page.LeafElem(f.p, f.count, f.index)
		if ok && flags&(page.LeafLarge|largePending) == 0 {
			return k, v, flags
		}
		return c.current()
	}
	return c.nextSlow()
}

// nextSlow is Next off its fast path, kept apart so that path stays small.
func (c *Cursor) nextSlow() ([]byte, []byte, uint32) {
	if c.deleted {
		c.deleted = false
		if f := &c.stack[c.depth-1]; f.index < f.len() {
			return c.current()
		}
	}
	var prev []byte
	if c.strict {
		prev = c.leafKey()
	}
	if !c.next() {
		c.settle()
		return nil, nil, 0
	}
	if !c.countLeaf(1) || !c.after(prev, 1) {
		return nil, nil, 0
	}
	return c.current()
}

// settle sets key after a Next or Prev that returned none: the cursor
// rests on the last (first) element, or past the end, and Delete removes
// the element there (after a Delete of the first element, a Prev leaves
// the cursor on the one that followed, which it never returned).
func (c *Cursor) settle() {
	c.key = nil
	if c.depth == 0 {
		return
	}
	if f := &c.stack[c.depth-1]; f.n != nil && f.n.leaf && uint(f.index) < uint(len(f.n.inodes)) {
		c.key = f.n.inodes[f.index].key()
	}
}

// leafKey is the key under the cursor if it rests on an element of a
// committed leaf of an unchanged tree, else nil.
func (c *Cursor) leafKey() []byte {
	if c.depth == 0 || c.t.rootNode != nil {
		return nil
	}
	f := &c.stack[c.depth-1]
	if f.n != nil || uint(f.index) >= uint(f.count) || !f.isLeaf() {
		return nil
	}
	k, _ := page.LeafKey(f.p, f.index)
	return k
}

// after checks that a move (dir 1 forward, -1 backward) from a leaf
// whose key was prev onto the next leaf went on in key order: a leaf
// whose keys pass its neighbour's (every checksum intact: a parent
// records its child's checksum, not its keys) fails the cursor, where
// a scan would serve keys out of order. One compare a leaf.
func (c *Cursor) after(prev []byte, dir int) bool {
	if prev == nil {
		return true
	}
	k := c.leafKey()
	if k == nil || bytes.Compare(k, prev)*dir > 0 {
		return true
	}
	f := &c.stack[c.depth-1]
	c.fail(page.Corruptf(f.id, "key order across leaves", fmt.Sprintf("%s %q", map[int]string{1: ">", -1: "<"}[dir], prev), fmt.Sprintf("%q", k)))
	return false
}

// countLeaf counts a committed leaf a scan moved onto (dir 1 forward,
// -1 backward). A valid tree's committed leaves are distinct pages of the
// file, so a scan that gets more leaves away from where it went down than
// the file has pages is walking a file whose branches repeat a child
// (every checksum intact: a parent records its child's checksum, not
// that it has one parent), which would take fanout^depth leaves.
// NB: the distance, not the leaves moved onto: a cursor walked back and
// forth meets the same leaves again, and counting those took a healthy
// file for damage (TestCursorRepeatOperations).
func (c *Cursor) countLeaf(dir int) bool {
	f := &c.stack[c.depth-1]
	if f.n != nil {
		return true
	}
	c.leaves += dir
	if c.leaves <= c.maxLeaves && -c.leaves <= c.maxLeaves {
		return true
	}
	if c.maxLeaves == 0 {
		c.maxLeaves = math.MaxInt
		// Tx's Size: the pages its snapshot holds (and it allocated).
		if s, ok := c.t.pages.(interface{ Size() int64 }); ok {
			if n := s.Size() / int64(c.t.pages.PageSize()); n > 0 && n < math.MaxInt {
				c.maxLeaves = int(n)
			}
		}
		if c.leaves <= c.maxLeaves && -c.leaves <= c.maxLeaves {
			return true
		}
	}
	c.fail(page.Corruptf(f.id, "leaves a scan reaches", fmt.Sprintf("at most the file's %d pages", c.maxLeaves),
		"more (a page reached twice?)"))
	return false
}

// Prev moves to the previous element.
func (c *Cursor) Prev() ([]byte, []byte, uint32) {
	if c.depth == 0 {
		return nil, nil, 0
	}
	c.deleted = false
	// Fast path: the previous element is on the same committed leaf (so
	// prev, and its prefetching, runs only on leaving a leaf, as next).
	if f := &c.stack[c.depth-1]; f.n == nil && f.index > 0 {
		f.index--
		flags, k, v, ok := page.LeafElem(f.p, f.count, f.index)
		if ok && flags&(page.LeafLarge|largePending) == 0 {
			return k, v, flags
		}
		return c.current()
	}
	return c.prevSlow()
}

// prevSlow is Prev off its fast path, as nextSlow.
func (c *Cursor) prevSlow() ([]byte, []byte, uint32) {
	var prev []byte
	if c.strict {
		prev = c.leafKey()
	}
	if !c.prev() {
		c.settle()
		return nil, nil, 0
	}
	if !c.countLeaf(-1) || !c.after(prev, -1) {
		return nil, nil, 0
	}
	return c.current()
}

// Seek moves to the first element with key >= key.
func (c *Cursor) Seek(key []byte) ([]byte, []byte, uint32) {
	if !c.descend(key) {
		return nil, nil, 0
	}
	if f := &c.stack[c.depth-1]; f.index >= f.len() {
		if !c.next() {
			return nil, nil, 0
		}
	} else if c.strict && !c.belowNext() {
		return nil, nil, 0
	}
	return c.current()
}

// descend goes down from the root to the leaf that holds key or would,
// its index at the first element >= key (or past the last); false if
// the tree is empty or on an error.
func (c *Cursor) descend(key []byte) bool {
	if !c.pushRoot() {
		return false
	}
	for {
		f := &c.stack[c.depth-1]
		if f.isLeaf() {
			if f.n != nil {
				f.index, _ = f.n.search(key)
			} else {
				i, _, err := leafSearch(f.p, f.id, f.count, key)
				if err != nil {
					c.fail(err)
					return false
				}
				f.index = i
			}
			return true
		}
		if f.len() == 0 {
			return true
		}
		if f.n != nil {
			f.index = f.n.branchIndex(key)
		} else {
			i, err := branchSearch(f.p, f.id, f.count, key)
			if err != nil {
				c.fail(err)
				return false
			}
			f.index = i
			// As Tree.Get: the child's head is on its way before its
			// header is read. (Not in pushChild: a scan has asked for
			// the leaves ahead already.)
			id, sum := page.BranchChild(f.p, i)
			c.prefetchAt(id, headLines)
			if !c.pushPage(id, sum) {
				return false
			}
			continue
		}
		if !c.pushChild() {
			return false
		}
	}
}

// belowNext checks that the key Seek landed on, in a committed leaf of
// an unchanged tree, sorts before the separator of the leaf's next
// sibling in its parent: a leaf holding keys past it would have Seek
// return one of them ahead of the sibling's smaller keys.
func (c *Cursor) belowNext() bool {
	k := c.leafKey()
	if k == nil || c.depth < 2 {
		return true
	}
	g := &c.stack[c.depth-2]
	if g.n != nil || g.index+1 >= g.count {
		return true
	}
	hi, ok := page.BranchKey(g.p, g.index+1)
	if !ok || bytes.Compare(k, hi) < 0 {
		return true
	}
	f := &c.stack[c.depth-1]
	c.fail(page.Corruptf(f.id, "key vs next separator in parent", fmt.Sprintf("< %q", hi), fmt.Sprintf("%q", k)))
	return false
}

// Delete removes the element under the cursor, or after a Delete the one
// that followed (Target says which), if check (when not nil) approves
// its flags as the tree holds them now; check's error is returned as it
// is, and nothing changes. The cursor then rests between its neighbours:
// Next returns the element after the deleted one and Prev the one
// before. It returns the key it removed (nil if none: past the end, or
// the key was deleted by other means), valid until the transaction
// ends, and the cursor's error, if it met one.
//
// NB: the key removed, not one asked for before: a WAL-mode commit logs
// it, and Target then Delete resolved the cursor twice; twice they
// disagreed, and a replay deleted another key than the commit had
// (TestCursorSecondDeleteAfterParentChanged).
func (c *Cursor) Delete(check Check) ([]byte, error) {
	key, flags, found, err := c.resolve()
	if err != nil || key == nil {
		return nil, err
	}
	if check != nil {
		if err := check(found, flags); err != nil {
			return nil, err
		}
	}
	n, err := c.node(key)
	if err != nil {
		c.fail(err)
		return nil, err
	}
	if n == nil {
		return nil, nil // key is gone: deleted by other means
	}
	f := &c.stack[c.depth-1]
	c.t.freeValue(n.inodes[f.index].flags, n.inodes[f.index].value(), n.id)
	n.inodes = append(n.inodes[:f.index], n.inodes[f.index+1:]...)
	n.unbalanced, n.appendOnly = true, false
	c.t.removed = true
	// Another cursor on the tree no longer reads it as it is; this one
	// does (walk or Seek went down the tree as it is).
	c.t.gen++
	c.deleted, c.key, c.gen = true, key, c.t.gen
	if len(n.inodes) == 0 {
		// The leaf goes (dropEmpty); the cursor stays on it, at rest
		// between its neighbours. INVARIANT: node walked the path,
		// every frame's node is the tree's.
		w := c.t.writes()
		for i := range c.depth {
			if page.Invariants && (c.stack[i].n == nil || i == 0 && c.stack[0].n != c.t.rootNode ||
				i > 0 && c.stack[i-1].n.inodes[c.stack[i-1].index].node != c.stack[i].n) {
				panic(fmt.Sprintf("folio/btree: Delete emptied leaf %d, but frame %d of its path is not the tree's node", n.id, i))
			}
			w.pathNode[i], w.pathIdx[i] = c.stack[i].n, c.stack[i].index
		}
		w.pathLen, w.pathOK = c.depth, false
		c.t.dropEmpty()
	}
	return key, nil
}

// node materialises the path under the cursor and returns the leaf node,
// pointing every frame at its node; key is the element at the top
// frame's index, which the leaf must hold there.
//
// NB: the tree may have changed since the cursor moved. A Bucket.Put may
// have split a node on the path (splitPath, which can add a level), and
// a Put or Delete may have shifted the elements of a leaf the cursor
// still reads as a committed page. Walking by the stale indices would
// then reach another element, perhaps a branch's (dropping a subtree),
// or index past a node's end. So the walk checks each step, and if the
// path no longer leads to key, Seek finds it afresh (bbolt's
// node().del(key) likewise deletes by key). nil if key is gone; the
// cursor then rests before the element that followed it.
func (c *Cursor) node(key []byte) (*Node, error) {
	n, ok, err := c.walk(key)
	if ok || err != nil {
		return n, err
	}
	if k, _, _ := c.Seek(key); !bytes.Equal(k, key) {
		c.deleted, c.key, c.gen = c.err == nil, key, c.t.gen
		return nil, c.err
	}
	if n, ok, err = c.walk(key); !ok {
		return nil, err // not reached: Seek walked the live tree
	}
	return n, nil
}

// walk is node's walk by the cursor's indices; false if the tree's shape
// under the path, or the element at its end, is not what the cursor has.
func (c *Cursor) walk(key []byte) (*Node, bool, error) {
	n, err := c.t.rootForWrite()
	if err != nil {
		return nil, false, err
	}
	for i := 0; i < c.depth; i++ {
		f := &c.stack[i]
		last := i == c.depth-1
		if n.leaf != last || uint(f.index) >= uint(len(n.inodes)) {
			return nil, false, nil
		}
		f.n = n
		if last {
			break
		}
		if n, err = c.t.child(n, f.index); err != nil {
			return nil, false, err
		}
	}
	if !bytes.Equal(n.inodes[c.stack[c.depth-1].index].key(), key) {
		return nil, false, nil
	}
	return n, true, nil
}
