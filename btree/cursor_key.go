package btree

import "github.com/foliodb/folio/page"

// Target returns the key and flags of the element Delete would remove, or
// a nil key if it would remove none. After a Delete the cursor rests on
// the element that followed, which a second Delete removes: the element a
// caller last saw is not always the one deleted.
func (c *Cursor) Target() ([]byte, uint32) {
	if c.depth == 0 {
		return nil, 0
	}
	f := &c.stack[c.depth-1]
	if f.index >= f.count || !f.isLeaf() {
		return nil, 0
	}
	if f.n != nil {
		in := &f.n.inodes[f.index]
		return in.key(), in.flags &^ largePending
	}
	flags, k, _, ok := page.LeafElem(f.p, f.count, f.index)
	if !ok {
		return nil, 0
	}
	return k, flags
}
