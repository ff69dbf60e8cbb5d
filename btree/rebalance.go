package btree

// Rebalance merges nodes left under-full by deletes into a sibling,
// removes emptied nodes, and shortens the root while it is a branch with
// one child. A tree whose last key was deleted ends with no pages at all.
func (t *Tree) Rebalance() error {
	t.dropPath()
	n := t.rootNode
	if n == nil {
		return nil
	}
	// Only a removed element leaves a node under-full or empty: a
	// transaction of inserts skips the walk over every node it touched.
	if t.removed {
		if err := t.rebalance(n); err != nil {
			return err
		}
		t.removed = false
	}
	for !n.leaf && len(n.inodes) == 1 {
		c, err := t.child(n, 0)
		if err != nil {
			return err
		}
		t.discard(n)
		n = c
	}
	if !n.leaf && len(n.inodes) == 0 {
		t.discard(n)
		n = &Node{leaf: true}
	}
	t.rootNode = n
	return nil
}

// underfull reports whether an unbalanced node should be merged.
func (t *Tree) underfull(n *Node) bool {
	if len(n.inodes) == 0 {
		return true
	}
	if !n.unbalanced {
		return false
	}
	minKeys := 2
	if n.leaf {
		minKeys = 1
	}
	return len(n.inodes) < minKeys || n.size() < t.pages.PageSize()/4
}

// discard frees the committed run of a node that no longer exists.
func (t *Tree) discard(n *Node) {
	if n.id != 0 {
		t.pages.Free(n.id, n.pages)
		n.id = 0
	}
}

// rebalance works bottom-up over the materialised branch n.
func (t *Tree) rebalance(n *Node) error {
	if n.leaf {
		return nil
	}
	for i := range n.inodes {
		if c := n.inodes[i].node; c != nil {
			if err := t.rebalance(c); err != nil {
				return err
			}
		}
	}
	for i := 0; i < len(n.inodes); {
		c := n.inodes[i].node
		if c == nil || !t.underfull(c) {
			i++
			continue
		}
		n.unbalanced = true
		if len(c.inodes) == 0 {
			t.discard(c)
			n.inodes = append(n.inodes[:i], n.inodes[i+1:]...)
			continue
		}
		if len(n.inodes) == 1 {
			i++ // an only child: the parent's own rebalance handles it
			continue
		}
		// Merge into the left sibling, or pull the right one in.
		left, right := i-1, i
		if i == 0 {
			left, right = 0, 1
		}
		l, err := t.child(n, left)
		if err != nil {
			return err
		}
		r, err := t.child(n, right)
		if err != nil {
			return err
		}
		if l.leaf != r.leaf {
			return errMixedLevels(n)
		}
		if !r.leaf && len(r.inodes) > 0 {
			// NB: r's first child also holds keys below r's first key,
			// down to n's key for r (a key inserted since, or r's first
			// key deleted). In l that child is no longer the first: it
			// takes n's key for r, or those keys would route to l's
			// previous child and be lost.
			keepKey(&r.inodes[0], &n.inodes[right])
			r.inodes[0].src = 0 // n's page, not r's
		}
		l.inodes = append(l.inodes, r.inodes...)
		l.unbalanced, l.appendOnly = false, false
		l.hasPending = l.hasPending || r.hasPending
		t.discard(r)
		n.inodes = append(n.inodes[:right], n.inodes[right+1:]...)
		i = left + 1
	}
	return nil
}
