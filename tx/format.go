package tx

import "fmt"

// String methods keep fmt's %v away from the structs: it would print the
// whole mapping, and read past the file's end into the map's slack (a
// memory fault, which a transaction reports as corruption).

// String names the transaction: its txid, mode and database.
func (tx *Tx) String() string {
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

// String names the bucket by its path ("a/b"; "" for the top level).
func (b *Bucket) String() string { return fmt.Sprintf("Bucket<%q>", b.path()) }

// GoString is String, for %#v.
func (b *Bucket) GoString() string { return b.String() }

// String names the bucket the cursor walks.
func (c *Cursor) String() string { return fmt.Sprintf("Cursor<%q>", c.bucket.path()) }

// GoString is String, for %#v.
func (c *Cursor) GoString() string { return c.String() }
