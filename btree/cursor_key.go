package btree

import "github.com/foliodb/folio/page"

// DeleteKey returns the key of the element Delete would remove, or nil if
// it would remove none. After a Delete the cursor rests on the element
// that followed, which a second Delete removes: the key a caller last saw
// is not always the one deleted (WAL mode logs this one).
func (c *Cursor) DeleteKey() []byte {
	if c.depth == 0 {
		return nil
	}
	f := &c.stack[c.depth-1]
	if f.index >= f.count || !f.isLeaf() {
		return nil
	}
	if f.n != nil {
		return f.n.inodes[f.index].key()
	}
	_, k, _, ok := page.LeafElem(f.p, f.count, f.index)
	if !ok {
		return nil
	}
	return k
}
