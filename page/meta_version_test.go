package page

import (
	"encoding/binary"
	"testing"
)

// MetaVersion reads the version a meta page says: Version as EncodeMeta
// writes it, 1 for a page a folio before version 2 wrote.
func TestMetaVersion(t *testing.T) {
	p := make([]byte, MinPageSize)
	EncodeMeta(p, 1, &Meta{PageSize: MinPageSize, High: 2, TxID: 1})
	if _, err := DecodeMeta(p, 1); err != nil {
		t.Fatal(err)
	}
	if v := MetaVersion(p); v != Version {
		t.Errorf("MetaVersion of an encoded meta = %d, want %d", v, Version)
	}
	binary.LittleEndian.PutUint32(p[HeaderSize+4:], 1)
	Seal(p)
	if _, err := DecodeMeta(p, 1); err != nil {
		t.Fatalf("a version 1 meta: %v", err)
	}
	if v := MetaVersion(p); v != 1 {
		t.Errorf("MetaVersion of a version 1 meta = %d, want 1", v)
	}
}
