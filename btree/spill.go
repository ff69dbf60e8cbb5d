package btree

import (
	"github.com/foliodb/folio/page"
)

// Spill writes every materialised node to newly allocated pages, bottom-up,
// so each parent records the checksum of the child it points to, and frees
// the runs they replace. Afterwards Root is the new committed root and the
// tree holds no materialised nodes. Call Rebalance first.
func (t *Tree) Spill() error {
	t.pathOK = false
	n := t.rootNode
	if n == nil {
		return nil
	}
	entries, err := t.spill(n)
	if err != nil {
		return err
	}
	// A root that split gets a new parent, which may split again.
	for len(entries) > 1 {
		if entries, err = t.spill(&Node{inodes: entries, appendOnly: n.appendOnly}); err != nil {
			return err
		}
	}
	t.rootNode = nil
	if len(entries) == 0 {
		t.root, t.rootSum = 0, 0
	} else {
		t.root, t.rootSum = entries[0].child, entries[0].sum
	}
	return nil
}

// spill writes n and its materialised descendants and returns the branch
// entries that replace n in its parent: one per page n was split into,
// none if n is empty.
func (t *Tree) spill(n *Node) ([]inode, error) {
	if !n.leaf {
		var out []inode
		for i := range n.inodes {
			in := &n.inodes[i]
			if in.node == nil {
				if out != nil {
					out = append(out, *in)
				}
				continue
			}
			entries, err := t.spill(in.node)
			if err != nil {
				return nil, err
			}
			if len(entries) != 1 && i != len(n.inodes)-1 {
				n.appendOnly = false // a child split or vanished mid-node
			}
			if out == nil {
				out = make([]inode, 0, len(n.inodes)+len(entries))
				out = append(out, n.inodes[:i]...)
			}
			out = append(out, entries...)
		}
		if out != nil {
			n.inodes = out
		}
	} else if err := t.writeLarge(n); err != nil {
		return nil, err
	}
	if n.id != 0 {
		t.pages.Free(n.id, n.pages)
		n.id = 0
	}
	if len(n.inodes) == 0 {
		return nil, nil
	}
	var entries []inode
	for _, part := range t.split(n) {
		run, id, err := t.alloc(part.size())
		if err != nil {
			return nil, err
		}
		sum := part.encode(run, id, t.pages.TxID(), t.pages.PageSize())
		t.pages.Write(id, run)
		entries = append(entries, inode{key: part.inodes[0].key, child: id, sum: sum})
	}
	return entries, nil
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
		run, id, err := t.alloc(page.HeaderSize + len(in.value))
		if err != nil {
			return err
		}
		page.PutHeader(run, id, t.pages.TxID(), page.FlagLarge, 0, uint32(len(run)/t.pages.PageSize()-1))
		copy(run[page.HeaderSize:], in.value)
		ref := page.LargeRef{Page: id, Size: uint32(len(in.value)), Sum: page.Seal(run)}
		t.pages.Write(id, run)
		in.value = make([]byte, page.LargeRefSize)
		ref.Encode(in.value)
		in.flags = page.LeafLarge
	}
	return nil
}

// split cuts n into parts that each fit a page at the tree's fill; a part
// is bigger than a page only when one element alone is (it overflows).
// Each part keeps at least two elements (one for a leaf) unless n has too
// few. NB: a run filled to exactly one page needs no overflow page.
func (t *Tree) split(n *Node) []*Node {
	ps := t.pages.PageSize()
	if n.size() <= ps {
		return []*Node{n}
	}
	fill := t.Fill
	if n.appendOnly {
		fill = 1
	}
	if fill < 0.1 {
		fill = 0.1
	} else if fill > 1 {
		fill = 1
	}
	threshold := int(float64(ps) * fill)
	minKeys := 2
	if n.leaf {
		minKeys = 1
	}
	var parts []*Node
	rest := n.inodes
	remaining := n.size()
	for len(rest) > 0 {
		// What is left fits one page: keep it whole rather than cut a
		// sliver off (a node just over a page splits in two, not three).
		if remaining <= ps {
			parts = append(parts, &Node{leaf: n.leaf, inodes: rest, appendOnly: n.appendOnly, unbalanced: n.unbalanced, hasPending: n.hasPending})
			break
		}
		size, i := page.HeaderSize, 0
		for ; i < len(rest); i++ {
			es := n.elemSize(&rest[i])
			// Cut before element i once the part holds enough and would
			// pass the threshold, keeping enough for the next part.
			if i >= minKeys && size+es > threshold && len(rest)-i >= minKeys {
				break
			}
			size += es
		}
		parts = append(parts, &Node{leaf: n.leaf, inodes: rest[:i:i], appendOnly: n.appendOnly, unbalanced: n.unbalanced, hasPending: n.hasPending})
		rest = rest[i:]
		remaining -= size - page.HeaderSize
	}
	return parts
}
