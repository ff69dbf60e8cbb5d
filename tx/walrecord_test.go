package tx

import (
	"bytes"
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
)

const testPS = 1024

// sealedRun builds a sealed leaf-kind run of n pages at id.
func sealedRun(id page.ID, n int, fill byte) []byte {
	run := make([]byte, n*testPS)
	page.PutHeader(run, id, 5, page.FlagLarge, 0, uint32(n-1))
	for i := page.HeaderSize; i < len(run); i++ {
		run[i] = fill
	}
	page.Seal(run)
	return run
}

func testRecord() []byte {
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 10, TxID: 5}
	runs := []dirtyRun{{id: 3, run: sealedRun(3, 1, 'a')}, {id: 6, run: sealedRun(6, 2, 'b')}}
	return encodeRecord(nil, &m, testPS, runs)
}

func TestRecordRoundTrip(t *testing.T) {
	b := testRecord()
	rec, err := decodeRecord(b, testPS)
	if err != nil {
		t.Fatal(err)
	}
	if rec.meta.TxID != 5 || rec.meta.High != 10 || len(rec.runs) != 2 ||
		rec.runs[1].id != 6 || len(rec.runs[1].run) != 2*testPS {
		t.Fatalf("decoded %+v", rec)
	}
	again := encodeRecord(nil, &rec.meta, testPS, rec.runs)
	if !bytes.Equal(again, b) {
		t.Fatal("re-encoding differs")
	}
	// Every truncation and a flipped byte in each part are refused.
	for _, n := range []int{0, 10, recordHeader, recordHeader + testPS, len(b) - 1} {
		if _, err := decodeRecord(b[:n], testPS); !errors.Is(err, errRecord) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	for _, off := range []int{0, 8, 16, recordHeader + 40, recordHeader + testPS + 2, len(b) - 5} {
		bad := bytes.Clone(b)
		bad[off] ^= 0x40
		if _, err := decodeRecord(bad, testPS); err == nil {
			t.Errorf("flip at %d accepted", off)
		}
	}
	if _, err := decodeRecord(b, 2*testPS); err == nil {
		t.Error("wrong page size accepted")
	}
}

// FuzzDecodeRecord: the page-image record decoder returns a record or an
// error, never panics, and what it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(testRecord())
	f.Add(testRecord()[:recordHeader+testPS])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		rec, err := decodeRecord(b, testPS)
		if err != nil {
			return
		}
		if again := encodeRecord(nil, &rec.meta, testPS, rec.runs); !bytes.Equal(again, b) {
			t.Fatalf("accepted a record that re-encodes differently")
		}
	})
}
