package tx

import (
	"fmt"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
)

// Cursor iterates over a bucket's keys in order. Nested buckets appear
// with a nil value. Keys and values are valid as Bucket.Get's are. A
// cursor meeting a corrupt page returns nil, as at the end, and fails the
// transaction (View and Update return ErrCorrupt). So does, without an
// error, a cursor whose transaction ended or whose bucket was deleted
// (or is the nil *Bucket of a missing name); its Delete says why.
//
// A cursor that runs off either end stays on the last (first) key, as
// bbolt's does: Seek(end) then Prev returns the last key before end.
// Changing the bucket while a cursor walks it never panics, but the
// cursor may then skip keys or return one twice: reposition it with
// First, Last or Seek to read the bucket as it now is.
type Cursor struct {
	bucket *Bucket
	c      btree.Cursor
}

// Bucket returns the bucket the cursor walks.
func (c *Cursor) Bucket() *Bucket { return c.bucket }

func (c *Cursor) out(k, v []byte, flags uint32) ([]byte, []byte) {
	if err := c.c.Err(); err != nil {
		_ = c.bucket.wrap(err)
		return nil, nil
	}
	if flags&page.LeafBucket != 0 {
		return k, nil
	}
	if k != nil && v == nil {
		v = []byte{}
	}
	return k, v
}

// closed reports whether the cursor has nothing to walk. NB: a deleted
// bucket's tree is emptied, but a cursor that stood in it still holds
// its pages (freed, not yet reused) and went on returning its keys.
func (c *Cursor) closed() bool {
	b := c.bucket
	return b == nil || b.tx.db == nil || b.deleted
}

// First moves to the first key.
func (c *Cursor) First() (key, value []byte) {
	if c.closed() {
		return nil, nil
	}
	c.c.Map(c.bucket.tx.r.data, c.bucket.tx.r.pageSize)
	return c.out(c.c.First())
}

// Last moves to the last key.
func (c *Cursor) Last() (key, value []byte) {
	if c.closed() {
		return nil, nil
	}
	c.c.Map(c.bucket.tx.r.data, c.bucket.tx.r.pageSize)
	return c.out(c.c.Last())
}

// Next moves to the next key; nil at the end.
func (c *Cursor) Next() (key, value []byte) {
	if c.closed() {
		return nil, nil
	}
	k, v, flags := c.c.Next()
	if v != nil && flags&page.LeafBucket == 0 {
		// A plain key and value, a scan's common case, without out's
		// call. INVARIANT: a btree cursor that met an error returns nil
		// keys and values from then on.
		if page.Invariants && c.c.Err() != nil {
			panic(fmt.Sprintf("folio/tx: a cursor returned key %q after its error: %v", k, c.c.Err()))
		}
		return k, v
	}
	return c.out(k, v, flags)
}

// Prev moves to the previous key; nil at the start.
func (c *Cursor) Prev() (key, value []byte) {
	if c.closed() {
		return nil, nil
	}
	return c.out(c.c.Prev())
}

// Seek moves to the first key >= seek; nil if there is none.
func (c *Cursor) Seek(seek []byte) (key, value []byte) {
	if c.closed() {
		return nil, nil
	}
	c.c.Map(c.bucket.tx.r.data, c.bucket.tx.r.pageSize)
	return c.out(c.c.Seek(seek))
}

// Delete removes the key under the cursor. Unlike bbolt, a following Next
// returns the key after the deleted one: no key is skipped. On a cursor
// never moved it deletes nothing and returns nil (bbolt's panics). A
// nested bucket under the cursor is ErrIncompatibleValue, and nothing is
// deleted; the other errors are those of every write (see Bucket).
func (c *Cursor) Delete() error {
	if err := c.bucket.writeCheck(); err != nil {
		return err
	}
	// The element under the cursor, not the one last returned: after a
	// Delete the cursor rests on the next one, which may be a bucket
	// (deleting its element would leak the bucket's pages): the btree
	// cursor refuses it by its flags as the tree holds them now.
	k, err := c.c.Delete(notBucket)
	if err != nil {
		k, _ = c.c.Target()
		return c.bucket.wrapKey(err, k)
	}
	// The key Delete removed is the one logged: resolved once, so the
	// log cannot name another (it did, twice: Target, then Delete,
	// resolved the cursor apart). Its bytes stay valid until the
	// transaction ends, and logOp copies them.
	if tx := c.bucket.tx; tx.logging && k != nil {
		tx.logOp(opDelete, c.bucket, k, nil, 0, nil)
	}
	return nil
}
