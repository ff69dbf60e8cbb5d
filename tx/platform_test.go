package tx

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestRecordCountsNoWrap feeds decodeRecord a run count and a run's
// stored length of 2^31 and more. Where int has 32 bits (386, arm) their
// int conversion is negative: the count passed the bound and make
// panicked on a negative capacity. (A negative length moves the scan of
// run headers backwards; the later checks refuse it.) Each must be
// errRecord. On 64-bit platforms this passes either way: run it under
// GOARCH=386 or arm.
func TestRecordCountsNoWrap(t *testing.T) {
	for _, v := range []uint32{1 << 31, 1<<32 - 16, 1<<32 - 1} {
		b := testRecord()
		binary.LittleEndian.PutUint32(b[20:], v)
		if _, err := decodeRecord(b, testPS); !errors.Is(err, errRecord) {
			t.Errorf("run count %d: got %v, want errRecord", v, err)
		}
		b = testRecord()
		// The first run's header follows the meta; its stored length is
		// at 12 in it.
		runAt := recordHeader + int(binary.LittleEndian.Uint32(b[24:]))
		binary.LittleEndian.PutUint32(b[runAt+12:], v)
		if _, err := decodeRecord(b, testPS); !errors.Is(err, errRecord) {
			t.Errorf("run stored length %d: got %v, want errRecord", v, err)
		}
	}
	if _, err := decodeRecord(testRecord(), testPS); err != nil {
		t.Fatalf("the record unchanged: %v", err)
	}
}

// TestFreelistRunPagesNoWrap: the free list run's header claims 2^31 and
// 2^32 pages. freelistRunPages bounds the count by the file; where int
// has 32 bits it was negative (or 0), and an Open that rebuilds a damaged
// free list sliced used[Freelist : Freelist+count] with it and panicked.
// On 64-bit platforms this passes either way.
func TestFreelistRunPagesNoWrap(t *testing.T) {
	m := page.Meta{PageSize: testPS, Freelist: 2, High: 10}
	for _, ov := range []uint32{1<<31 - 1, 1 << 31, 1<<32 - 1} {
		data := make([]byte, int(m.High)*testPS)
		page.PutHeader(data[2*testPS:], 2, 5, page.FlagFreelist, 0, ov)
		if got := freelistRunPages(data, testPS, m); got != int(m.High-m.Freelist) {
			t.Errorf("overflow %d: %d pages, want %d", ov, got, m.High-m.Freelist)
		}
	}
}
