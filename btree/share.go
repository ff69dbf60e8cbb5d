package btree

import "github.com/foliodb/folio/page"

// Sharing a split with a sibling.
//
// A leaf that outgrows its page in a random-order load would split into
// two half-full pages, and such leaves average about two thirds full
// (bbolt's too). Instead, before a branch spills its children, each leaf
// that overflows is merged with a neighbour, and the pair is cut into equal
// parts: two pages when they fit in two at shareFill (the overflow moves
// into the neighbour's free space, and no page is added), three when they
// fit in three (two full pages and a new one become three pages two
// thirds full, where a plain split would leave the new two half empty).
// A pair bigger than that splits plainly, at the bucket's fill, and
// the neighbour keeps its page. The cost is the neighbour's page, written
// again, and read first unless the transaction had changed it too.
//
// Measured (bench W2: 1M random 16-byte keys with 100-byte values, 1,000
// per transaction): used space 206.3 MiB without sharing, 188.9 MiB with
// two-way sharing only, 179.2 MiB with three-way too (bbolt: 193.8);
// keys/s the same within the noise (3 interleaved rounds: 41.9k, 41.9k,
// 39.0k without; 40.9k, 41.9k, 42.8k with).
//
// Leaves only: an append-only leaf (a load in key order) still splits
// into full pages, and branches, a few hundred pages, split plainly.

// shareFill is how full an even cut leaves each part at most: room for a
// few more inserts before the part overflows again.
const shareFill = 0.9

// sharePart is the most payload (page bytes past the header) that an
// even cut puts in one part.
func sharePart(ps int) int { return int(float64(ps-page.HeaderSize) * shareFill) }

// shareSplits merges each materialised leaf child of n that overflows its
// page with a neighbour when the two fit in two or three parts, marking the
// merged node to be cut evenly (split). REQUIRES: n is a branch, before its
// children spill.
func (t *Tree) shareSplits(n *Node) error {
	ps := t.pages.PageSize()
	most := 3 * sharePart(ps)
	for i := 0; i < len(n.inodes); i++ {
		c := n.inodes[i].node
		if c == nil || !c.leaf || c.appendOnly {
			continue
		}
		size := c.size()
		if size <= ps {
			continue
		}
		j, other, read, err := t.neighbour(n, i)
		if err != nil {
			return err
		}
		if j < 0 {
			continue
		}
		if size+other-2*page.HeaderSize > most {
			if read {
				n.inodes[j].node = nil // unchanged: it keeps its page
			}
			continue
		}
		lo, hi := min(i, j), max(i, j)
		l, r := n.inodes[lo].node, n.inodes[hi].node
		l.inodes = append(l.inodes, r.inodes...)
		l.appendOnly, l.even = false, true
		l.hasPending = l.hasPending || r.hasPending
		t.discard(r)
		n.inodes = append(n.inodes[:hi], n.inodes[hi+1:]...)
		i = lo
	}
	return nil
}

// neighbour picks the sibling of child i to share its split with and
// returns its index (-1 if none) and size. A materialised sibling costs no
// read and is written anyway, so the smaller of those is taken; else the
// right one is read (the left one for the last child, or when the right
// one is an overflowing append-only leaf, which is left to split full by
// itself), and read says so.
func (t *Tree) neighbour(n *Node, i int) (j, size int, read bool, err error) {
	j = -1
	for _, k := range [2]int{i - 1, i + 1} {
		if k < 0 || k >= len(n.inodes) || n.inodes[k].node == nil {
			continue
		}
		s := n.inodes[k].node
		if !s.leaf {
			return -1, 0, false, errMixedLevels(n)
		}
		ss := s.size()
		if s.appendOnly && ss > t.pages.PageSize() {
			continue
		}
		if j < 0 || ss < size {
			j, size = k, ss
		}
	}
	if j >= 0 {
		return j, size, false, nil
	}
	// Neither side is materialised, or only an append-only one passed
	// over above: read the other.
	for _, k := range [2]int{i + 1, i - 1} {
		if k >= 0 && k < len(n.inodes) && n.inodes[k].node == nil {
			j = k
			break
		}
	}
	if j < 0 {
		return -1, 0, false, nil
	}
	s, err := t.child(n, j)
	if err != nil {
		return -1, 0, false, err
	}
	if !s.leaf {
		return -1, 0, false, errMixedLevels(n)
	}
	return j, s.size(), true, nil
}
