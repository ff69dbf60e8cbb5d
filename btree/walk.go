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
}

// Walk visits the tree's committed pages (not this transaction's changes)
// and checks them: header, checksum (recomputed when verify is set), key
// order inside each page, every key within its parent's separators, all
// leaves at one depth, large-value runs.
func (t *Tree) Walk(verify bool, w Walker) {
	if t.root == 0 {
		return
	}
	wk := walk{t: t, w: w, verify: verify, leafDepth: -1}
	wk.node(t.root, t.rootSum, nil, nil, 0)
}

type walk struct {
	t         *Tree
	w         Walker
	verify    bool
	leafDepth int
}

func (wk *walk) problem(err error) {
	if wk.w.Problem != nil {
		wk.w.Problem(err)
	}
}

// run reads and checks one run, reporting a recomputed-CRC mismatch.
func (wk *walk) run(id page.ID, kind page.Flags, sum uint32, depth int) []byte {
	p, err := wk.t.pages.Run(id, kind, sum)
	if err != nil {
		wk.problem(err)
		// The page is still referenced: account for it (one page, its
		// real length unknown) so it is not also reported as leaked.
		if wk.w.Page != nil && id >= 2 {
			wk.w.Page(id, 1, kind, depth)
		}
		return nil
	}
	if wk.verify {
		if got := page.Checksum(p); got != page.PageChecksum(p) {
			wk.problem(page.Corruptf(id, "checksum", fmt.Sprintf("%#08x", page.PageChecksum(p)), fmt.Sprintf("%#08x", got)))
		}
	}
	if wk.w.Page != nil {
		wk.w.Page(id, len(p)/wk.t.pages.PageSize(), page.PageFlags(p), depth)
	}
	return p
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
			wk.problem(page.Corruptf(id, fmt.Sprintf("key order at element %d", i), fmt.Sprintf("> %q", prev), fmt.Sprintf("%q", key)))
		case i == 0 && lo != nil && bytes.Compare(key, lo) < 0:
			wk.problem(page.Corruptf(id, "first key vs parent separator", fmt.Sprintf(">= %q", lo), fmt.Sprintf("%q", key)))
		case hi != nil && bytes.Compare(key, hi) >= 0:
			wk.problem(page.Corruptf(id, fmt.Sprintf("key %d vs next separator in parent", i), fmt.Sprintf("< %q", hi), fmt.Sprintf("%q", key)))
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
// including large-value runs; nested buckets' trees are the caller's.
// The tree is empty afterwards.
func (t *Tree) FreeAll() error {
	t.pathOK = false
	var err error
	if t.rootNode != nil {
		err = t.freeNode(t.rootNode)
	} else if t.root != 0 {
		err = t.freeCommitted(t.root, t.rootSum, 0)
	}
	t.rootNode, t.root, t.rootSum = nil, 0, 0
	return err
}

func (t *Tree) freeNode(n *Node) error {
	t.discard(n)
	for i := range n.inodes {
		in := &n.inodes[i]
		switch {
		case n.leaf:
			t.freeValue(in.flags, in.value(), n.id)
		case in.node != nil:
			if err := t.freeNode(in.node); err != nil {
				return err
			}
		default:
			if err := t.freeCommitted(in.child, in.sum, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Tree) freeCommitted(id page.ID, sum uint32, depth int) error {
	if depth >= MaxDepth {
		return errDepth(id)
	}
	p, err := t.pages.Run(id, page.FlagBranch|page.FlagLeaf, sum)
	if err != nil {
		return err
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
			if !ok {
				return page.ElemError(id, i)
			}
			t.freeValue(flags, v, id)
			continue
		}
		c, csum := page.BranchChild(p, i)
		if err := t.freeCommitted(c, csum, depth+1); err != nil {
			return err
		}
	}
	t.pages.Free(id, len(p)/t.pages.PageSize())
	return nil
}
