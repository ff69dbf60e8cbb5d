package tx

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestRecordMetaPageSize: a page-image record whose meta names another
// page size than the record (and the file) is refused. Replay writes the
// record's meta into the file as it is, so before, the next open read the
// file with the wrong page size.
func TestRecordMetaPageSize(t *testing.T) {
	const ps = 2 * testPS
	m := page.Meta{PageSize: testPS, High: 10, TxID: 5}
	// The meta sealed as a page of its own size, in a record of ps.
	mp := make([]byte, testPS)
	page.EncodeMeta(mp, 0, &m)
	b := encodeRecord(nil, &m, ps, nil)[:recordHeader]
	b = append(b, mp[:storedLen(mp)]...)
	binary.LittleEndian.PutUint32(b[24:], uint32(storedLen(mp)))
	if _, err := decodeRecord(b, ps); !errors.Is(err, errRecord) {
		t.Fatalf("decodeRecord of a meta with page size %d in a record of %d: %v, want errRecord", testPS, ps, err)
	}
	m.PageSize = ps
	if _, err := decodeRecord(encodeRecord(nil, &m, ps, nil), ps); err != nil {
		t.Fatal(err)
	}
}

// TestRecordGrows: a record may raise the high water mark only over
// pages its runs write (what Tx.Allocate at the end of the file does).
func TestRecordGrows(t *testing.T) {
	rec := func(high page.ID, runs ...dirtyRun) *walRecord {
		return &walRecord{meta: page.Meta{PageSize: testPS, High: high}, runs: runs}
	}
	for _, c := range []struct {
		name string
		rec  *walRecord
		ok   bool
	}{
		{"same", rec(10), true},
		{"lower", rec(8), true},
		{"by-runs", rec(13, dirtyRun{3, sealedRun(3, 1, 'a')}, dirtyRun{10, sealedRun(10, 3, 'b')}), true},
		{"run-straddles", rec(12, dirtyRun{9, sealedRun(9, 3, 'b')}), true},
		{"one-more", rec(14, dirtyRun{10, sealedRun(10, 3, 'b')}), false},
		{"no-runs", rec(11), false},
		{"run-below", rec(11, dirtyRun{4, sealedRun(4, 2, 'b')}), false},
		{"far", rec(1<<40+1, dirtyRun{1 << 40, sealedRun(1<<40, 1, 'b')}), false},
	} {
		if err := c.rec.grows(10, testPS); (err == nil) != c.ok {
			t.Errorf("%s: grows: %v, want ok %v", c.name, err, c.ok)
		}
	}
}
