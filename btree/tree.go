package btree

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/foliodb/folio/page"
)

// MaxDepth bounds a descent. A real tree never gets near it (even with
// two keys a node it holds 2^24 leaves); a hostile file with a cycle in
// its branches hits it and gets an error instead of an endless loop.
const MaxDepth = 24

// Tree is one B+tree: a bucket's keys, or the bucket directory.
type Tree struct {
	pages   Pages
	root    page.ID // committed root; 0 = empty tree, or inline
	rootSum uint32
	// inline, if not nil, is the committed tree, root 0: one leaf stored
	// in the parent's bucket value (page.CheckInlineLeaf accepted it for
	// a write; a read may have checked only its header, as it checks a
	// leaf page's: page.ReadBucketHeader), read from page inlineFrom (0:
	// written by this transaction), which errors name. It aliases that
	// page, or the value Spill encoded, and stays valid for the
	// transaction.
	inline     []byte
	inlineFrom page.ID
	// Inlinable lets Spill store the tree inline when it is one leaf of
	// plain values within page.InlineMax: a bucket's, never the bucket
	// directory's (the meta holds its header alone). Reset clears it.
	Inlinable bool
	// rootNode is the materialised root once a write touched the tree.
	// Materialised nodes hang off their parents' inodes, so the dirty part
	// of the tree is exactly what is reachable through rootNode.
	rootNode *Node
	// Fill is the fraction of a page a split fills (bbolt's FillPercent).
	Fill float64
	// AppendFill is the fraction a split fills when every insert into
	// the node went after its last element (an append at the right
	// edge); 0 means DefaultAppendFill.
	AppendFill float64
	// mapping and pageSize, when Map set them, say where committed pages
	// are mapped, for Get's prefetches. Only a hint, as for Cursor.Map.
	mapping  []byte
	pageSize int

	// w holds what only writes use, made by the first write (writes):
	// nil while the tree is only read, so a read transaction's bucket
	// handle, kept until it ends, is 320 bytes rather than 832.
	w *writeState
	// shared, if not nil, is the slab nodes are cut from (ShareSlab).
	shared *Slab
	// removed: an element was removed since the last Rebalance, which
	// then has nodes to look at.
	removed bool
	// gen counts Put and Delete calls (and Cursor.Deletes): a cursor that
	// moved at the same count reads the tree as it is (Cursor.resolve).
	gen uint64
}

// writeState is a tree's state for writes.
type writeState struct {
	// The path the last leafFor took: the nodes from the root down and
	// the child index taken in each, for splitting a node that grew big.
	pathNode [MaxDepth]*Node
	pathIdx  [MaxDepth]int
	pathLen  int
	// pathOK: the path still matches the tree (no split, rebalance or
	// spill since), so an append at the right edge may reuse it.
	pathOK bool

	// arena holds copies of small keys and values put in this
	// transaction: one allocation for many Puts.
	arena []byte
	// own is where materialised nodes are cut from (newNode, newInodes)
	// unless ShareSlab gave the tree a slab shared with other trees.
	own Slab
	// parts is split's scratch, reused by every split.
	parts []part
}

// writes returns t's write state, made on first use.
func (t *Tree) writes() *writeState {
	if t.w == nil {
		t.w = new(writeState)
	}
	return t.w
}

// dropPath says the last path no longer matches the tree.
func (t *Tree) dropPath() {
	if t.w != nil {
		t.w.pathOK = false
	}
}

// arenaChunk is the largest arena allocation; copies over a quarter of
// it get their own. A tree's first chunk is arenaFirst bytes and each
// next one twice the last: a one-put commit (two trees: the bucket and
// the directory) allocated 128 KiB and cleared it before, a tenth of its
// CPU; a bulk load reaches full chunks after a few Puts.
const (
	arenaChunk = 64 << 10
	arenaFirst = 512
)

// copyKV returns a copy of key followed by value (an inode's kv), cut from
// the arena when small.
func (t *Tree) copyKV(key, value []byte) []byte {
	n := len(key) + len(value)
	var buf []byte
	if n > arenaChunk/4 {
		buf = make([]byte, n)
	} else {
		w := t.writes()
		if len(w.arena)+n > cap(w.arena) {
			size := min(max(2*cap(w.arena), arenaFirst, n), arenaChunk)
			w.arena = make([]byte, 0, size)
		}
		buf = w.arena[len(w.arena) : len(w.arena)+n : len(w.arena)+n]
		w.arena = w.arena[:len(w.arena)+n]
	}
	copy(buf, key)
	copy(buf[len(key):], value)
	return buf
}

// appendLeaf returns the leaf of the last path if key goes after all its
// keys and the path runs down the right edge of the tree: a load in key
// order then skips the descent. nil otherwise.
func (t *Tree) appendLeaf(key []byte) *Node {
	w := t.w
	if w == nil || !w.pathOK || w.pathLen == 0 {
		return nil
	}
	n := w.pathNode[w.pathLen-1]
	if !n.leaf || len(n.inodes) == 0 || bytes.Compare(n.inodes[len(n.inodes)-1].key(), key) >= 0 {
		return nil
	}
	for d := 0; d < w.pathLen-1; d++ {
		if w.pathIdx[d] != len(w.pathNode[d].inodes)-1 {
			return nil
		}
	}
	return n
}

// New returns the tree whose committed root is (root, sum).
func New(pages Pages, root page.ID, sum uint32) *Tree {
	return &Tree{pages: pages, root: root, rootSum: sum, Fill: DefaultFill}
}

// NewInline returns the tree stored inline as leaf, read from page from
// (see ResetInline).
func NewInline(pages Pages, leaf []byte, from page.ID) *Tree {
	t := New(pages, 0, 0)
	t.inline, t.inlineFrom = leaf, from
	return t
}

// Reset points t at another committed root, dropping any materialised
// nodes; it lets a transaction reuse Tree values without allocating.
func (t *Tree) Reset(pages Pages, root page.ID, sum uint32) {
	if t.pristine() {
		// Only read from (a View's buckets): the write state is zero
		// already, and clearing the whole struct was a tenth of a
		// one-get View.
		t.pages, t.root, t.rootSum, t.Fill = pages, root, sum, DefaultFill
		t.mapping, t.pageSize = nil, 0
		t.inline, t.inlineFrom, t.Inlinable = nil, 0, false
		return
	}
	w := t.w
	*t = Tree{pages: pages, root: root, rootSum: sum, Fill: DefaultFill}
	if w != nil { // kept for the next write: a pooled bucket's
		*w = writeState{}
		t.w = w
	}
}

// ResetInline is Reset for a tree stored inline: leaf is the inline leaf
// of a bucket value read from page from, which page.DecodeBucketHeader
// accepted (page.ReadBucketHeader, if t is only read: a write copies
// the leaf and frees nothing of it, which only the whole check makes
// safe). REQUIRES: leaf stays valid for the transaction.
func (t *Tree) ResetInline(pages Pages, leaf []byte, from page.ID) {
	t.Reset(pages, 0, 0)
	t.inline, t.inlineFrom = leaf, from
}

// Map tells t that committed page id starts at mapping[id*pageSize:], so
// that Get can ask the CPU for the head of each page on its path before
// it reads it. Only a hint: t reads every page through Pages.Run and its
// checks, and never reads mapping itself; nil turns it off.
func (t *Tree) Map(mapping []byte, pageSize int) {
	t.mapping, t.pageSize = mapping, pageSize
}

// pristine reports that no write touched t since it was made, or ever
// if it was Reset: every field Reset leaves alone is zero, and t has no
// write state.
func (t *Tree) pristine() bool {
	return t.rootNode == nil && t.w == nil && !t.removed
}

// DefaultFill is the fill of a split page unless a bucket asks otherwise.
const DefaultFill = 0.5

// DefaultAppendFill is the fill of a page split by appends unless a
// bucket asks otherwise: full, as LMDB's append, so a load in key order
// makes half the pages a half fill would. Later inserts between those
// keys then split the full pages they land in.
const DefaultAppendFill = 1.0

// Root returns the committed root (valid after Spill); 0 for an empty
// tree or one stored inline.
func (t *Tree) Root() (page.ID, uint32) { return t.root, t.rootSum }

// Inline returns the committed tree's inline leaf (valid after Spill), or
// nil if it is not stored inline. It stays valid for the transaction and
// must not be modified.
func (t *Tree) Inline() []byte { return t.inline }

// Dirty reports whether the tree holds changes not yet spilled.
func (t *Tree) Dirty() bool { return t.rootNode != nil }

// errDepth reports a descent past MaxDepth, naming the page reached.
func errDepth(id page.ID) error {
	return page.Corruptf(id, "tree depth", fmt.Sprintf("<= %d levels", MaxDepth), "more (a cycle?)")
}

// Get returns the value stored under key and its flags (page.LeafBucket,
// page.LeafLarge), with found=false if key is absent. The value aliases
// the mapping (or the transaction's copy) and stays valid until the
// transaction ends or, in a write transaction, until the next change.
// It does not allocate.
func (t *Tree) Get(key []byte) (value []byte, flags uint32, found bool, err error) {
	v, fl, from, found, err := t.lookup(key)
	if !found || err != nil {
		return nil, 0, false, err
	}
	v, err = t.resolve(fl, v, from)
	return v, fl &^ largePending, true, err
}

// GetFrom is Get that also returns the page holding the element, for an
// error about the value to name it (a bucket header that does not
// decode, say).
func (t *Tree) GetFrom(key []byte) (value []byte, flags uint32, from page.ID, found bool, err error) {
	v, fl, from, found, err := t.lookup(key)
	if !found || err != nil {
		return nil, 0, 0, false, err
	}
	v, err = t.resolve(fl, v, from)
	return v, fl &^ largePending, from, true, err
}

// lookup finds key's element: its stored value and flags (largePending
// included) and the page holding it, without resolving a large value.
func (t *Tree) lookup(key []byte) (value []byte, flags uint32, from page.ID, found bool, err error) {
	id, sum := t.root, t.rootSum
	if t.inline != nil && t.rootNode == nil {
		v, fl, found, err := leafGet(t.inline, t.inlineFrom, key)
		return v, fl, t.inlineFrom, found, err
	}
	if n := t.rootNode; n != nil {
		for depth := 0; ; depth++ {
			if n.leaf {
				i, exact := n.search(key)
				if !exact {
					return nil, 0, 0, false, nil
				}
				in := &n.inodes[i]
				return in.value(), in.flags, n.id, true, nil
			}
			if len(n.inodes) == 0 || depth >= MaxDepth {
				return nil, 0, 0, false, nil
			}
			in := &n.inodes[n.branchIndex(key)]
			if in.node == nil {
				id, sum = in.child, in.sum
				break
			}
			n = in.node
		}
	}
	for depth := 0; id != 0; depth++ {
		if depth >= MaxDepth {
			return nil, 0, 0, false, errDepth(id)
		}
		if depth > 0 { // the root is read by every lookup: cached
			t.prefetchHead(id)
		}
		p, err := t.pages.Run(id, page.FlagBranch|page.FlagLeaf, sum)
		if err != nil {
			return nil, 0, 0, false, err
		}
		if page.PageFlags(p) == page.FlagLeaf {
			v, fl, found, err := leafGet(p, id, key)
			return v, fl, id, found, err
		}
		count, err := page.CheckElems(p, id, page.BranchElemSize)
		if err != nil {
			return nil, 0, 0, false, err
		}
		prefetchBranch(p, count)
		i, err := branchSearch(p, id, count, key)
		if err != nil {
			return nil, 0, 0, false, err
		}
		id, sum = page.BranchChild(p, i)
	}
	return nil, 0, 0, false, nil
}

// leafGet is lookup in the committed leaf p, read from page id.
func leafGet(p []byte, id page.ID, key []byte) (value []byte, flags uint32, found bool, err error) {
	count, err := page.CheckElems(p, id, page.LeafElemSize)
	if err != nil {
		return nil, 0, false, err
	}
	prefetchLeaf(p, count)
	i, exact, err := leafSearch(p, id, count, key)
	if err != nil || !exact {
		return nil, 0, false, err
	}
	fl, v, ok := page.LeafValue(p, i)
	if !ok {
		return nil, 0, false, page.ElemError(id, i)
	}
	if fl&largePending != 0 {
		return nil, 0, false, errMemoryFlag(id, i, fl)
	}
	return v, fl, true, nil
}

// resolve turns a stored leaf value into the user's value: a large value
// is read from its run. from is the page holding the element (for errors).
func (t *Tree) resolve(flags uint32, v []byte, from page.ID) ([]byte, error) {
	if flags&page.LeafLarge == 0 || flags&largePending != 0 {
		return v, nil
	}
	ref, err := page.DecodeLargeRef(v, from)
	if err != nil {
		return nil, err
	}
	p, err := t.pages.Run(ref.Page, page.FlagLarge, ref.Sum)
	if err != nil {
		return nil, err
	}
	return page.LargeValue(p, ref)
}

// prefetchLeaf and prefetchBranch start loading the lines a search of page
// p (count elements, checked) reads: a leaf's hints and elements, a
// branch's hints. The search reads a few of them one after another (a
// hint line, then another, then an element's); issued together, their
// misses overlap. W3 on 1M keys: +8% for the leaf's, +8% more for the
// branch's (bench/README.md, "Experiment log").
func prefetchLeaf(p []byte, count int) {
	prefetch(&p[0], (page.HeaderSize+count*(page.HintSize+page.LeafElemSize)+63)/64)
}

func prefetchBranch(p []byte, count int) {
	prefetch(&p[0], (page.HeaderSize+count*page.HintSize+63)/64)
}

// headLines is how much of a page prefetchHead asks for: the header and
// the first hints (a branch's first 60, a leaf's 20 with their first
// elements). Measured on 1M keys (a test program, 3 alternating rounds,
// ns a get with 1,000 gets a View): none 851-878, 4 lines 794-820, 8
// lines 758-784, 12 lines 757-797; 16 was noisier and no faster.
const headLines = 8

// prefetchHead asks for the first lines of committed page id before Run
// reads its header: the header and the hints the search reads next then
// arrive together, rather than the hints' miss waiting on the header's.
// An id from a damaged page may be anything; the bounds check keeps the
// address inside the mapping, and a prefetch never faults.
func (t *Tree) prefetchHead(id page.ID) {
	if off := uint64(id) * uint64(t.pageSize); off < uint64(len(t.mapping)) {
		prefetch(&t.mapping[off], headLines)
	}
}

// leafSearch finds the first element of leaf p with key >= key. Probes
// compare the packed hints and read a key only when hints tie.
func leafSearch(p []byte, id page.ID, count int, key []byte) (int, bool, error) {
	h := page.KeyHint(key)
	hints := p[page.HeaderSize : page.HeaderSize+count*page.HintSize]
	lo, hi := 0, count
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		hm := binary.LittleEndian.Uint64(hints[m*page.HintSize:])
		if hm < h {
			lo = m + 1
			continue
		}
		if hm > h {
			hi = m
			continue
		}
		k, ok := page.LeafKey(p, m)
		if !ok {
			return 0, false, page.ElemError(id, m)
		}
		switch c := bytes.Compare(k, key); {
		case c < 0:
			lo = m + 1
		case c == 0:
			return m, true, nil
		default:
			hi = m
		}
	}
	return lo, false, nil
}

// branchSearch finds the child of branch p whose range holds key: the last
// element with separator <= key (the first one if key is smaller than all).
func branchSearch(p []byte, id page.ID, count int, key []byte) (int, error) {
	h := page.KeyHint(key)
	hints := p[page.HeaderSize : page.HeaderSize+count*page.HintSize]
	lo, hi := 0, count
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		hm := binary.LittleEndian.Uint64(hints[m*page.HintSize:])
		le := hm < h
		if hm == h {
			k, ok := page.BranchKey(p, m)
			if !ok {
				return 0, page.ElemError(id, m)
			}
			le = bytes.Compare(k, key) <= 0
		}
		if le {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo > 0 {
		lo--
	}
	return lo, nil
}

// branchIndex is branchSearch over a materialised branch.
func (n *Node) branchIndex(key []byte) int {
	lo, hi := 0, len(n.inodes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(n.inodes[m].key(), key) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo > 0 {
		lo--
	}
	return lo
}

// materialise reads the committed node at (id, sum) for writing.
func (t *Tree) materialise(id page.ID, sum uint32) (*Node, error) {
	p, err := t.pages.Run(id, page.FlagBranch|page.FlagLeaf, sum)
	if err != nil {
		return nil, err
	}
	// A page a write copies is checked whole, VerifyChecksums or not:
	// otherwise damage inside it would be sealed into its copy under a
	// fresh checksum, and nothing could find it again. (One CRC-32C per
	// page copied: BenchmarkPutRandom moved less than its noise.)
	if v, ok := t.pages.(verifyingPages); !ok || !v.VerifiesRuns() {
		if err := page.VerifyChecksum(p, id, sum); err != nil {
			return nil, err
		}
	}
	return t.read(p, id)
}

// verifyingPages is a Pages that may check every run whole in Run
// already (VerifyChecksums); materialise then does not check it twice.
type verifyingPages interface {
	VerifiesRuns() bool
}

// rootForWrite returns the materialised root, reading or creating it.
func (t *Tree) rootForWrite() (*Node, error) {
	if t.rootNode != nil {
		return t.rootNode, nil
	}
	if t.root == 0 && t.inline != nil {
		n, err := t.read(t.inline, t.inlineFrom)
		if err != nil {
			return nil, err
		}
		// No run of its own: nothing to free when it is written.
		n.id, n.pages = 0, 0
		t.rootNode = n
		return n, nil
	}
	if t.root == 0 {
		t.rootNode = &Node{leaf: true, appendOnly: true}
		return t.rootNode, nil
	}
	n, err := t.materialise(t.root, t.rootSum)
	if err != nil {
		return nil, err
	}
	t.rootNode = n
	return n, nil
}

// child returns the materialised child i of branch n.
func (t *Tree) child(n *Node, i int) (*Node, error) {
	in := &n.inodes[i]
	if in.node == nil {
		c, err := t.materialise(in.child, in.sum)
		if err != nil {
			return nil, err
		}
		in.node = c
	}
	return in.node, nil
}

// leafFor materialises the path to the leaf that holds (or would hold) key.
// fresh is the depth of the first node on the path that this call
// materialised (0 for the root), or -1 if it materialised none: while
// nothing on the path has changed, forget(fresh) takes the copies back.
func (t *Tree) leafFor(key []byte) (n *Node, fresh int, err error) {
	fresh = -1
	if t.rootNode == nil {
		fresh = 0
	}
	if n, err = t.rootForWrite(); err != nil {
		return nil, -1, err
	}
	w := t.writes()
	w.pathNode[0], w.pathLen, w.pathOK = n, 1, true
	for depth := 0; !n.leaf; depth++ {
		if depth+1 >= MaxDepth {
			return nil, -1, errDepth(n.id)
		}
		if len(n.inodes) == 0 {
			w.pathOK = false
			return nil, -1, page.Corruptf(n.id, "branch", "children", "none")
		}
		i := n.branchIndex(key)
		if fresh < 0 && n.inodes[i].node == nil {
			fresh = depth + 1
		}
		if n, err = t.child(n, i); err != nil {
			w.pathOK = false
			return nil, -1, err
		}
		w.pathIdx[depth] = i
		w.pathNode[depth+1], w.pathLen = n, depth+2
	}
	return n, fresh, nil
}

// forget unhooks the nodes of the last path from depth fresh down (see
// leafFor), so that a write refused after its descent copies no pages:
// they are unchanged copies of committed pages, which stay where they
// are. The nodes stay in the slabs until the tree is spilled or reset.
// REQUIRES: nothing on the path changed since leafFor.
func (t *Tree) forget(fresh int) {
	if fresh < 0 {
		return
	}
	w := t.w // leafFor made it
	if fresh == 0 {
		t.rootNode = nil
	} else {
		w.pathNode[fresh-1].inodes[w.pathIdx[fresh-1]].node = nil
	}
	clear(w.pathNode[fresh:w.pathLen])
	w.pathLen, w.pathOK = fresh, false
}

// maxNodePages bounds a materialised node between commits: past it, Put
// splits the node at once. Without it a node would absorb every insert
// of a large transaction and each insert would shift an ever longer
// slice (quadratic); with it, an insert costs the same in a transaction
// of a thousand keys or of a million.
const maxNodePages = 4

// splitPath splits the node at level of the last path, and its parents
// in turn, while they are bigger than maxNodePages. The parts replace the
// node in its parent as materialised children; spill writes them.
func (t *Tree) splitPath(level int) {
	limit := maxNodePages * t.pages.PageSize()
	w := t.w // leafFor made it
	defer func() { w.pathOK = false }()
	for ; level >= 0; level-- {
		n := w.pathNode[level]
		if n.size() <= limit {
			return
		}
		w.parts = t.split(n, n.size(), w.parts[:0])
		if len(w.parts) < 2 {
			return
		}
		t.discard(n) // its committed run is replaced by the parts
		n.replaced = true
		entries := make([]inode, len(w.parts))
		for i, p := range w.parts {
			ins := n.inodes[p.lo:p.hi:p.hi]
			if p.hi == len(n.inodes) {
				ins = n.inodes[p.lo:] // the last part keeps the spare capacity
				if n.appendOnly && cap(ins) < len(n.inodes) {
					// A load in key order refills the last part to n's
					// size before it splits again: room for that now, from
					// the slab, rather than appends doubling a fresh array
					// from one element (1.4 GB of W1's 3.3 GB allocated).
					ins = append(t.newInodes(0, len(n.inodes)), ins...)
				}
			}
			c := t.newNode()
			*c = Node{leaf: n.leaf, src: n.src, inodes: ins, appendOnly: n.appendOnly, unbalanced: n.unbalanced, hasPending: n.hasPending}
			key := ins[0].key()
			if i > 0 && n.leaf {
				key = separator(n.inodes[p.lo-1].key(), key)
			}
			entries[i] = inode{klen: uint32(len(key)), kv: key, node: c}
		}
		if level == 0 {
			t.rootNode = &Node{inodes: entries, appendOnly: n.appendOnly}
			return
		}
		parent, i := w.pathNode[level-1], w.pathIdx[level-1]
		// The first keeps the lower bound the parent had.
		entries[0].klen, entries[0].kv = parent.inodes[i].klen, parent.inodes[i].key()
		parent.inodes = slices.Replace(parent.inodes, i, i+1, entries...)
	}
}

// LargeThreshold is the value size above which a value is stored out of
// line: about a quarter of a page, so a leaf keeps several entries and
// updating a neighbour does not copy the large value.
func LargeThreshold(pageSize int) int { return pageSize / 4 }

// Check vets a change to a key given what it holds now (exists, and the
// flags of its stored value); a non-nil error stops the change.
type Check func(exists bool, flags uint32) error

// Put stores value under key with the given leaf flags (0 or
// page.LeafBucket), after check (if not nil) approves. Key and value are
// copied. A value over LargeThreshold is written out of line at commit.
func (t *Tree) Put(key, value []byte, flags uint32, check Check) error {
	_, err := t.PutCopy(key, value, flags, check)
	return err
}

// PutCopy is Put, and returns the tree's copy of value. The tree never
// writes to a copy once made (a later Put makes a new one), so it holds
// the value for as long as the caller keeps it, past the transaction
// too: package tx logs a large value from it rather than copying it once
// more.
func (t *Tree) PutCopy(key, value []byte, flags uint32, check Check) ([]byte, error) {
	t.gen++
	fresh := -1 // an append to the last path materialises nothing
	n := t.appendLeaf(key)
	if n == nil {
		var err error
		if n, fresh, err = t.leafFor(key); err != nil {
			return nil, err
		}
	}
	var i int
	var exact bool
	if k := len(n.inodes); k > 0 && bytes.Compare(n.inodes[k-1].key(), key) < 0 {
		i = k // an append, as in a load in key order: no search
	} else {
		i, exact = n.search(key)
	}
	if check != nil {
		var old uint32
		if exact {
			old = n.inodes[i].flags &^ largePending
		}
		if err := check(exact, old); err != nil {
			// A refused Put writes no pages, as a Delete of a missing
			// key does not: its path is not copied after all. (Rejected:
			// looking the key up before the descent, as Delete does. It
			// would descend twice on every Put to refuse a rare one.)
			t.forget(fresh)
			return nil, err
		}
	}
	if flags == 0 && len(value) > LargeThreshold(t.pages.PageSize()) {
		flags = page.LeafLarge | largePending
		n.hasPending = true
	}
	in := inode{flags: flags, klen: uint32(len(key)), kv: t.copyKV(key, value)}
	if exact {
		t.freeValue(n.inodes[i].flags, n.inodes[i].value(), n.id)
		n.inodes[i] = in
		return in.value(), nil
	}
	if i < len(n.inodes) {
		n.appendOnly = false
	}
	n.inodes = append(n.inodes, inode{})
	copy(n.inodes[i+1:], n.inodes[i:])
	n.inodes[i] = in
	if len(n.inodes)%16 == 0 {
		t.splitPath(t.w.pathLen - 1)
	}
	return in.value(), nil
}

// Delete removes key after check (if not nil) approves; it reports
// whether the key was there.
func (t *Tree) Delete(key []byte, check Check) (bool, error) {
	t.gen++
	// Look before copying the path: deleting a key that is not there, or
	// one that check refuses, writes no pages (bbolt's does not either).
	_, flags, _, found, err := t.lookup(key)
	if err != nil {
		return false, err
	}
	if check != nil {
		if err := check(found, flags&^largePending); err != nil {
			return false, err
		}
	}
	if !found {
		return false, nil
	}
	n, _, err := t.leafFor(key)
	if err != nil {
		return false, err
	}
	i, exact := n.search(key)
	if !exact {
		return false, nil // not reached: lookup found it
	}
	t.freeValue(n.inodes[i].flags, n.inodes[i].value(), n.id)
	n.inodes = append(n.inodes[:i], n.inodes[i+1:]...)
	n.unbalanced, n.appendOnly = true, false
	t.removed = true
	if len(n.inodes) == 0 {
		t.dropEmpty()
	}
	return true, nil
}

// dropEmpty takes the leaf at the end of the last path, which a delete
// has just emptied, out of its parent, and each parent that this leaves
// without children out of its own, up to the first branch that keeps
// others. Rebalance would at the commit; until then each First (or Last)
// after deletes from the front (or back) stepped over every leaf they
// had emptied, and draining a tree that way in one transaction took time
// quadratic in its keys (1M keys: minutes). The tree's only leaf stays:
// Rebalance empties the tree. The dropped nodes' committed runs are
// freed now, as Rebalance would free them.
//
// NB: a cursor may still stand on a dropped node (the one that deleted,
// or another), which stays empty, and one standing after it in the same
// parent holds an index one too far: its path has left the tree, and
// its next move finds its place again by key (strayKey). (Rejected:
// moving the deleting cursor onto a neighbour leaf. It reads a page
// Delete has no other use for, and left the other cursors to skip a
// leaf.)
func (t *Tree) dropEmpty() {
	w := t.w // leafFor made it
	d := w.pathLen - 1
	if d < 1 || len(w.pathNode[d].inodes) > 0 {
		return
	}
	k := d - 1
	for k >= 0 && len(w.pathNode[k].inodes) == 1 {
		k--
	}
	if k < 0 {
		return // the tree's only leaf
	}
	p, j := w.pathNode[k], w.pathIdx[k]
	if uint(j) >= uint(len(p.inodes)) || p.inodes[j].node != w.pathNode[k+1] {
		return // not reached: the path is the tree's
	}
	for _, n := range w.pathNode[k+1 : d+1] {
		t.discard(n)
		n.inodes = n.inodes[:0]
	}
	p.inodes = append(p.inodes[:j], p.inodes[j+1:]...)
	p.unbalanced = true
	w.pathOK = false // appendLeaf must not reuse a dropped leaf
}

// freeValue gives back the run of a committed large value being replaced.
// A corrupt descriptor is not freed: Check reports the leaked pages.
func (t *Tree) freeValue(flags uint32, value []byte, from page.ID) {
	if flags&page.LeafLarge == 0 || flags&largePending != 0 {
		return
	}
	ref, err := page.DecodeLargeRef(value, from)
	if err != nil {
		return
	}
	// NB: free the run as long as its own header says, once it proves to
	// be the run the descriptor expects (id, kind, checksum, and a length
	// that is the size's): a damaged descriptor's size or page id would
	// free pages still in use, which later commits would overwrite, and
	// so would a damaged overflow count in the run's header, which
	// without VerifyChecksums Run takes on the word of the checksum field
	// it does not recompute (TestLargeValueDamagedRunLength). A run that
	// does not check out stays allocated; Check reports it as leaked.
	if p, err := t.pages.Run(ref.Page, page.FlagLarge, ref.Sum); err == nil {
		if _, err := page.LargeValue(p, ref); err == nil {
			t.pages.Free(ref.Page, len(p)/t.pages.PageSize())
		}
	}
}

func errMixedLevels(n *Node) error {
	return page.Corruptf(n.id, "children", "all at one depth", "a leaf beside a branch")
}
