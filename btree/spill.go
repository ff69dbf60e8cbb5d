package btree

import (
	"math"

	"github.com/foliodb/folio/page"
)

// Spill writes every materialised node to newly allocated pages, bottom-up,
// so each parent records the checksum of the child it points to, and frees
// the runs they replace. Afterwards Root is the new committed root and the
// tree holds no materialised nodes. Call Rebalance first.
func (t *Tree) Spill() error {
	t.dropPath()
	n := t.rootNode
	if n == nil {
		// Refused writes may have copied nodes and forgotten them (forget).
		t.releaseInodes()
		return nil
	}
	if t.inlinable(n) {
		t.discard(n) // its committed page, if it had one
		run := make([]byte, n.size())
		n.encode(run, 0, n.inodes, 0, t.pages.PageSize())
		page.SealInline(run)
		t.rootNode = nil
		t.releaseInodes()
		t.root, t.rootSum, t.inline, t.inlineFrom = 0, 0, run, 0
		return nil
	}
	t.inline, t.inlineFrom = nil, 0
	entries, err := t.spill(n, nil)
	if err != nil {
		return err
	}
	// A root that split gets a new parent, which may split again.
	for len(entries) > 1 {
		if entries, err = t.spill(&Node{inodes: entries, appendOnly: n.appendOnly}, nil); err != nil {
			return err
		}
	}
	t.rootNode = nil
	t.releaseInodes()
	if len(entries) == 0 {
		t.root, t.rootSum = 0, 0
	} else {
		t.root, t.rootSum = entries[0].child, entries[0].sum
	}
	return nil
}

// inlinable reports whether root n may be stored inline (Inlinable): a
// leaf of plain values (no nested bucket, no large value, pending or
// written) no bigger than page.InlineMax.
// NB: the flags, not hasPending, which a pending value deleted leaves
// set: a WAL replay that put and deleted one in a transaction kept a
// page where the commits it replayed had stored the bucket inline.
func (t *Tree) inlinable(n *Node) bool {
	if !t.Inlinable || !n.leaf || len(n.inodes) == 0 {
		return false
	}
	size, limit := page.HeaderSize, page.InlineMax(t.pages.PageSize())
	for i := range n.inodes {
		in := &n.inodes[i]
		if size += n.elemSize(in); size > limit || in.flags != 0 {
			return false
		}
	}
	return true
}

// spill writes n and its materialised descendants and appends to dst the
// branch entries that replace n in its parent: one per page n was split
// into, none if n is empty.
func (t *Tree) spill(n *Node, dst []inode) ([]inode, error) {
	if !n.leaf {
		if err := t.spillChildren(n); err != nil {
			return dst, err
		}
	} else if err := t.writeLarge(n); err != nil {
		return dst, err
	}
	if n.id != 0 {
		t.pages.Free(n.id, n.pages)
		n.id = 0
	}
	if len(n.inodes) == 0 {
		return dst, nil
	}
	size := n.size()
	if size <= t.pages.PageSize() {
		return t.write(n, n.inodes, size, dst) // the common case: no split
	}
	w := t.writes()
	w.parts = t.split(n, size, w.parts[:0])
	// NB: w.parts is shared scratch; nothing below spills recursively.
	for j, p := range w.parts {
		var err error
		if dst, err = t.write(n, n.inodes[p.lo:p.hi], p.size, dst); err != nil {
			return dst, err
		}
		if j > 0 && n.leaf {
			e := &dst[len(dst)-1]
			e.kv = separator(n.inodes[p.lo-1].key(), e.kv)
			e.klen = uint32(len(e.kv))
		}
	}
	return dst, nil
}

// separator returns the shortest prefix of next that sorts after prev:
// a parent's key for the right half of a split leaf, whose last key on
// the left is prev and first on the right is next (prev < next). Any key
// in [prev, next) would route the same keys; the shortest makes branch
// elements smaller, so branches hold more children (random 16-byte keys:
// ~3 bytes instead of 16) and a tree has fewer of them to write and to
// cache. A branch that splits keeps its first key as is: the keys below
// it in its subtree are not at hand.
func separator(prev, next []byte) []byte {
	n := 0
	for n < len(prev) && n < len(next) && prev[n] == next[n] {
		n++
	}
	return next[: n+1 : n+1] // n < len(next), since prev < next
}

// spillChildren spills the materialised children of branch n and puts
// their entries in its inodes. A child that stays one page replaces its
// inode in place; the first that splits or vanishes moves the inodes to
// a new slice (rather than allocating one for every branch).
func (t *Tree) spillChildren(n *Node) error {
	if err := t.shareSplits(n); err != nil {
		return err
	}
	var out []inode
	last := len(n.inodes) - 1
	for i := range n.inodes {
		in := &n.inodes[i]
		if in.node == nil {
			if out != nil {
				out = append(out, *in)
			}
			continue
		}
		// The child keeps its key here (a split's separator may be
		// shorter than its first key): every key put into it since was
		// routed to it by that key, so none is smaller. Only the first
		// child also takes keys below its own; it gets its first key.
		sep := *in
		k := len(out)
		if out == nil {
			// The child's first entry goes straight into its own inode
			// (spill reads in.node before it appends); the capacity of
			// one sends any second entry to a new array.
			entries, err := t.spill(in.node, n.inodes[i:i:i+1])
			if err != nil {
				return err
			}
			if len(entries) == 1 {
				if i > 0 {
					keepKey(&n.inodes[i], &sep)
				}
				continue
			}
			out = make([]inode, 0, len(n.inodes)+len(entries))
			out = append(out, n.inodes[:i]...)
			k = len(out)
			out = append(out, entries...)
		} else {
			var err error
			if out, err = t.spill(in.node, out); err != nil {
				return err
			}
		}
		if i > 0 && len(out) > k {
			keepKey(&out[k], &sep)
		}
		if len(out)-k != 1 && i != last {
			n.appendOnly = false // a child split or vanished mid-node
		}
	}
	if out != nil {
		n.inodes = out
	}
	return nil
}

// keepKey gives the branch entry e the key of the entry old, which it
// replaces (old's bytes alias its node's source page, as e's now do).
func keepKey(e, old *inode) {
	e.klen, e.kv, e.src = old.klen, old.kv, old.src
}

// write allocates a run for ins, part of n, encodes them into it and
// appends the entry for it to dst.
func (t *Tree) write(n *Node, ins []inode, size int, dst []inode) ([]inode, error) {
	run, id, err := t.alloc(size)
	if err != nil {
		return dst, err
	}
	sum := n.encode(run, id, ins, t.pages.TxID(), t.pages.PageSize())
	t.pages.Write(id, run)
	return append(dst, inode{klen: ins[0].klen, kv: ins[0].key(), child: id, sum: sum}), nil
}

// alloc allocates and returns a buffer for a run holding size bytes.
func (t *Tree) alloc(size int) ([]byte, page.ID, error) {
	pages := (size + t.pages.PageSize() - 1) / t.pages.PageSize()
	id, err := t.pages.Allocate(pages)
	if err != nil {
		return nil, 0, err
	}
	return t.pages.Buffer(pages), id, nil
}

// writeLarge writes the leaf's pending large values to their own runs and
// replaces them by descriptors.
func (t *Tree) writeLarge(n *Node) error {
	if !n.hasPending {
		return nil
	}
	n.hasPending = false
	for i := range n.inodes {
		in := &n.inodes[i]
		if in.flags&largePending == 0 {
			continue
		}
		value := in.value()
		run, id, err := t.alloc(page.HeaderSize + len(value))
		if err != nil {
			return err
		}
		page.PutHeader(run, id, t.pages.TxID(), page.FlagLarge, 0, uint32(len(run)/t.pages.PageSize()-1))
		copy(run[page.HeaderSize:], value)
		ref := page.LargeRef{Page: id, Size: uint32(len(value)), Sum: page.Seal(run)}
		t.pages.Write(id, run)
		kv := make([]byte, int(in.klen)+page.LargeRefSize)
		copy(kv, in.key())
		ref.Encode(kv[in.klen:])
		in.kv, in.flags = kv, page.LeafLarge
	}
	return nil
}

// part is one page's worth of a node being split: inodes [lo, hi) and
// their encoded size.
type part struct {
	lo, hi, size int
}

// split cuts n, of encoded size size, into parts that each fit a page at
// the tree's fill and appends them to parts; a part is bigger than a page
// only when one element alone is (it overflows). Each part keeps at least
// two elements (one for a leaf) unless n has too few. NB: a run filled to
// exactly one page needs no overflow page.
func (t *Tree) split(n *Node, size int, parts []part) []part {
	ps := t.pages.PageSize()
	if size <= ps {
		return append(parts, part{0, len(n.inodes), size})
	}
	fill, unset := t.Fill, DefaultFill
	if n.appendOnly {
		fill, unset = t.AppendFill, DefaultAppendFill
		if fill == 0 {
			fill = DefaultAppendFill
		}
	}
	// NB: NaN passes both bounds below, and int(NaN) cut every split
	// after one element, a page a key (TestFillNaN): the default instead.
	if math.IsNaN(fill) {
		fill = unset
	}
	if fill < 0.1 {
		fill = 0.1
	} else if fill > 1 {
		fill = 1
	}
	threshold := int(float64(ps) * fill)
	if n.even {
		// Cut into equal parts, each at most shareFill full.
		k := (size - page.HeaderSize + sharePart(ps) - 1) / sharePart(ps)
		threshold = page.HeaderSize + (size-page.HeaderSize+k-1)/k
	}
	minKeys := 2
	if n.leaf {
		minKeys = 1
	}
	count := len(n.inodes)
	remaining := size
	for lo := 0; lo < count; {
		// What is left fits one page: keep it whole rather than cut a
		// sliver off (a node just over a page splits in two, not three).
		if remaining <= ps {
			parts = append(parts, part{lo, count, remaining})
			break
		}
		size, i := page.HeaderSize, lo
		for ; i < count; i++ {
			es := n.elemSize(&n.inodes[i])
			// Cut before element i once the part holds enough and would
			// pass the threshold, keeping enough for the next part.
			if i-lo >= minKeys && size+es > threshold && count-i >= minKeys {
				break
			}
			size += es
		}
		parts = append(parts, part{lo, i, size})
		lo = i
		remaining -= size - page.HeaderSize
	}
	return parts
}
