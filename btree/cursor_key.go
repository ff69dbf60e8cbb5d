package btree

import (
	"bytes"

	"github.com/foliodb/folio/page"
)

// Target returns the key and flags of the element Delete would remove, or
// a nil key if it would remove none. After a Delete the cursor rests on
// the element that followed, which a second Delete removes: the element a
// caller last saw is not always the one deleted.
func (c *Cursor) Target() ([]byte, uint32) {
	k, flags, found, err := c.resolve()
	if err != nil || !found {
		return nil, 0
	}
	return k, flags
}

// resolve returns the key of the element Delete would remove (nil:
// none), with its flags as the tree holds it now and whether it is still
// there.
//
// NB: what the cursor's frame says is not always the tree as it is now.
// In a materialised leaf a Bucket.Put or Delete since the move shifts
// the elements under the index, or leaves it past the node's end
// (deletes before it), or splits the node (replaced: it keeps its
// elements as they were, out of the tree): the key is the one the
// cursor returned (key), looked up afresh unless the element at the
// index of a node still in the tree is it. A
// committed leaf's bytes never change, so its key is right, but a leaf
// changed since may hold the key under other flags: deleted and created
// again as a nested bucket, the page's plain value let Cursor.Delete
// drop the bucket's element (whose pages the commit then put back or
// leaked, and a WAL replay refused).
func (c *Cursor) resolve() ([]byte, uint32, bool, error) {
	if c.gen == c.t.gen {
		// Nothing changed the tree since the cursor went down it: the
		// element at the index is the one (a Delete streak's case).
		f := c.target()
		if f == nil {
			return nil, 0, false, c.err
		}
		k, flags, ok := c.elemKey(f)
		if !ok {
			err := page.ElemError(f.id, f.index)
			c.fail(err)
			return nil, 0, false, err
		}
		return k, flags, true, nil
	}
	if c.depth > 0 && !c.deleted && c.stack[c.depth-1].n != nil {
		k := c.key
		if k == nil {
			return nil, 0, false, nil // at rest past the end
		}
		if f := &c.stack[c.depth-1]; f.n.leaf && !f.n.replaced && uint(f.index) < uint(len(f.n.inodes)) {
			if in := &f.n.inodes[f.index]; bytes.Equal(in.key(), k) {
				return k, in.flags &^ largePending, true, nil
			}
		}
		return c.lookup(k)
	}
	if c.deleted && c.key != nil && c.depth > 0 && !c.follows(&c.stack[c.depth-1]) {
		// After a Delete, changes to the leaf moved what followed the
		// deleted key from under the index: find it again.
		key := c.key
		if k, _, _ := c.Seek(key); c.err != nil {
			return nil, 0, false, c.err
		} else if bytes.Equal(k, key) {
			c.stack[c.depth-1].index++ // put again since: what followed is after it
		}
		c.deleted, c.key = true, key
	}
	f := c.target()
	if f == nil {
		return nil, 0, false, c.err
	}
	k, flags, ok := c.elemKey(f)
	switch {
	case !ok:
		err := page.ElemError(f.id, f.index)
		c.fail(err)
		return nil, 0, false, err
	case f.n == nil && c.t.rootNode != nil:
		return c.lookup(k)
	}
	return k, flags, true, nil
}

// follows reports that f's index still lies where the key deleted
// (c.key) was: after the keys before it and before those after it, as
// Delete left it, within the leaf. A committed leaf's page does not show the changes
// since, so there it holds only while the tree is unchanged (after a
// Delete the cursor stands in materialised leaves, but for one that
// found its key gone and rests where Seek left it).
func (c *Cursor) follows(f *frame) bool {
	if f.n == nil {
		return c.t.rootNode == nil
	}
	in, i := f.n.inodes, f.index
	// NB: i < len(in): at the leaf's end what followed is the next
	// leaf's first key, which target reaches by the parents' indices,
	// and a Put that split a leaf before this one moved those. A leaf
	// a Put split (replaced) is no longer in the tree.
	if !f.n.leaf || f.n.replaced || i < 0 || i >= len(in) {
		return false
	}
	// NB: i > 0: at a leaf's start a key put since just after the one
	// deleted may have gone to the end of the leaf before.
	return bytes.Compare(in[i].key(), c.key) > 0 &&
		i > 0 && bytes.Compare(in[i-1].key(), c.key) < 0
}

// lookup is resolve's: key's flags in the tree as it is now.
func (c *Cursor) lookup(key []byte) ([]byte, uint32, bool, error) {
	_, flags, _, found, err := c.t.lookup(key)
	if err != nil {
		c.fail(err)
		return nil, 0, false, err
	}
	return key, flags &^ largePending, found, nil
}

// target returns the leaf frame whose index is the element Delete would
// remove, nil if none (at rest past an end, or on an error).
//
// NB: a Delete of a leaf's last element leaves the index past the leaf's
// end; the element that followed is the next leaf's first. target moves
// there (still deleted, so Next returns it and Prev the element before
// the deleted one, as they would have); without the move a second Delete
// removed nothing there, and Target hid a nested bucket from the refusal
// in tx's Cursor.Delete.
func (c *Cursor) target() *frame {
	if c.depth == 0 {
		return nil
	}
	f := &c.stack[c.depth-1]
	if c.deleted && f.index >= f.len() {
		if !c.next() {
			return nil // nothing followed; the cursor stays past the end
		}
		f = &c.stack[c.depth-1]
	}
	if uint(f.index) >= uint(f.len()) || !f.isLeaf() { // invariant 2
		return nil
	}
	return f
}

// elemKey returns the key and flags of the element at f's index; false
// if a committed leaf's element does not lie within its page.
// REQUIRES: f is a leaf frame with its index in [0, len()): target's, or
// reseek's once it checked the index.
func (c *Cursor) elemKey(f *frame) ([]byte, uint32, bool) {
	if f.n != nil {
		in := &f.n.inodes[f.index]
		return in.key(), in.flags &^ largePending, true
	}
	flags, k, _, ok := page.LeafElem(f.p, f.count, f.index)
	if !ok {
		return nil, 0, false
	}
	return k, flags, true
}
