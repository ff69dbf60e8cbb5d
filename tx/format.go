package tx

import "fmt"

// String methods keep fmt's %v away from the structs: it would print the
// whole mapping, and read past the file's end into the map's slack (a
// memory fault, which a transaction reports as corruption).
//
// Each is safe on a nil receiver, which prints "<nil>" as fmt prints a nil
// pointer (and as big.Int's String does): fmt recovers from the panic a
// nil receiver caused, but a direct call, b.String() on the nil *Bucket
// of a missing name say, did not.

// nilString is what a nil handle prints.
const nilString = "<nil>"

// String names the transaction: its txid, mode and database.
func (tx *Tx) String() string {
	if tx == nil {
		return nilString
	}
	mode := "read-only"
	if tx.writable {
		mode = "writable"
	}
	path := "closed"
	if tx.db != nil {
		path = tx.db.path
	}
	return fmt.Sprintf("Tx<%d %s %q>", tx.meta.TxID, mode, path)
}

// GoString is String, for %#v.
func (tx *Tx) GoString() string { return tx.String() }

// String names the bucket by its path ("a"/"b" for bucket "b" in bucket
// "a"; "" for the top level).
func (b *Bucket) String() string {
	if b == nil {
		return nilString
	}
	return "Bucket<" + b.path() + ">"
}

// GoString is String, for %#v.
func (b *Bucket) GoString() string { return b.String() }

// String names the bucket the cursor walks: Cursor<nil> for a cursor of
// the nil *Bucket.
func (c *Cursor) String() string {
	switch {
	case c == nil:
		return nilString
	case c.bucket == nil:
		return "Cursor<nil>"
	}
	return "Cursor<" + c.bucket.path() + ">"
}

// GoString is String, for %#v.
func (c *Cursor) GoString() string { return c.String() }
