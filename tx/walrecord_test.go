package tx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
)

const testPS = 1024

// encodeRecord builds the record of a transaction in one buffer: the
// parts of recordParts, joined.
func encodeRecord(buf []byte, meta *page.Meta, ps int, runs []dirtyRun) []byte {
	_, parts, _ := recordParts(nil, nil, meta, ps, runs)
	buf = buf[:0]
	for _, p := range parts {
		buf = append(buf, p...)
	}
	return buf
}

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

// partRun builds a sealed run of n pages at id whose first used bytes
// are fill and the rest zeros, as a partly filled page is.
func partRun(id page.ID, n, used int, fill byte) []byte {
	run := make([]byte, n*testPS)
	page.PutHeader(run, id, 5, page.FlagLarge, 0, uint32(n-1))
	for i := page.HeaderSize; i < used; i++ {
		run[i] = fill
	}
	page.Seal(run)
	return run
}

// encodeRecordV1 writes the version 1 layout (whole pages), as a log
// written before version 2 holds it.
func encodeRecordV1(meta *page.Meta, ps int, runs []dirtyRun) []byte {
	b := make([]byte, recordHeaderV1+ps)
	binary.LittleEndian.PutUint32(b[0:], recordMagic)
	binary.LittleEndian.PutUint32(b[4:], recordVersion1)
	binary.LittleEndian.PutUint64(b[8:], uint64(meta.TxID))
	binary.LittleEndian.PutUint32(b[16:], uint32(ps))
	binary.LittleEndian.PutUint32(b[20:], uint32(len(runs)))
	page.EncodeMeta(b[recordHeaderV1:], 0, meta)
	for _, r := range runs {
		b = binary.LittleEndian.AppendUint64(b, uint64(r.id))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.run)/ps))
		b = append(b, r.run...)
	}
	return b
}

func sameRecord(a, b walRecord) bool {
	if a.meta != b.meta || len(a.runs) != len(b.runs) {
		return false
	}
	for i := range a.runs {
		if a.runs[i].id != b.runs[i].id || !bytes.Equal(a.runs[i].run, b.runs[i].run) {
			return false
		}
	}
	return true
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
	metaEnd := recordHeader + int(binary.LittleEndian.Uint32(b[24:]))
	// Every truncation and a flipped byte in each part are refused.
	for _, n := range []int{0, 10, recordHeader, metaEnd, metaEnd + runHeader + 5, len(b) - 1} {
		if _, err := decodeRecord(b[:n], testPS); !errors.Is(err, errRecord) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	for _, off := range []int{0, 8, 16, 24, recordHeader + 40, metaEnd + 2, metaEnd + 12, len(b) - 5} {
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

// TestRecordTrimsZeroTails: a page's free space (its zero tail) is left
// out of the record and comes back on decoding; a stored part that ends
// in a zero (two encodings of one record) is refused; a version 1 record
// (whole pages) still decodes to the same transaction.
func TestRecordTrimsZeroTails(t *testing.T) {
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 10, TxID: 5}
	runs := []dirtyRun{{id: 3, run: partRun(3, 1, 300, 'a')}, {id: 6, run: partRun(6, 2, testPS+10, 'b')}}
	b := encodeRecord(nil, &m, testPS, runs)
	if full := recordHeader + testPS + 2*runHeader + 3*testPS; len(b) > full-2*testPS {
		t.Fatalf("record of %d bytes: the zero tails (~%d bytes) were kept", len(b), 2*testPS)
	}
	rec, err := decodeRecord(b, testPS)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecord(rec, walRecord{meta: m, runs: runs}) {
		t.Fatal("decoded runs differ from the encoded ones")
	}
	// The first run's stored length, one byte longer: a trailing zero.
	metaEnd := recordHeader + int(binary.LittleEndian.Uint32(b[24:]))
	long := bytes.Clone(b[:metaEnd+runHeader])
	stored := int(binary.LittleEndian.Uint32(long[metaEnd+12:]))
	binary.LittleEndian.PutUint32(long[metaEnd+12:], uint32(stored+1))
	long = append(long, b[metaEnd+runHeader:metaEnd+runHeader+stored]...)
	long = append(long, 0)
	long = append(long, b[metaEnd+runHeader+stored:]...)
	if _, err := decodeRecord(long, testPS); !errors.Is(err, errRecord) {
		t.Fatalf("a stored part ending in zero: %v", err)
	}
	v1 := encodeRecordV1(&m, testPS, runs)
	rec1, err := decodeRecord(v1, testPS)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecord(rec1, rec) {
		t.Fatal("the version 1 record decodes to another transaction")
	}
}

// TestRecordZeroValueRun: a one-page large value of zero bytes trims to
// less than its header (the header's overflow, reserved and high txid
// bytes are zero too); the record must decode to the same run. (Open
// refused such a log with ErrCorrupt: found by review.)
func TestRecordZeroValueRun(t *testing.T) {
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 10, TxID: 5}
	runs := []dirtyRun{{id: 4, run: partRun(4, 1, 0, 0)}, {id: 6, run: partRun(6, 2, 0, 0)}}
	b := encodeRecord(nil, &m, testPS, runs)
	metaEnd := recordHeader + int(binary.LittleEndian.Uint32(b[24:]))
	if stored := binary.LittleEndian.Uint32(b[metaEnd+12:]); stored >= page.HeaderSize {
		t.Fatalf("the zero run stored %d bytes; the test wants one shorter than its header", stored)
	}
	rec, err := decodeRecord(b, testPS)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecord(rec, walRecord{meta: m, runs: runs}) {
		t.Fatal("decoded runs differ from the encoded ones")
	}
}

// TestRecordRunPastHigh: a run whose page id plus length wraps past 2^64
// is refused like any run past the meta's high water mark (the check
// added them, so a hostile record's id near 2^64 passed it).
func TestRecordRunPastHigh(t *testing.T) {
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 10, TxID: 5}
	for _, id := range []page.ID{10, 1<<64 - 1} {
		b := encodeRecord(nil, &m, testPS, []dirtyRun{{id: id, run: partRun(id, 1, 100, 'x')}})
		if _, err := decodeRecord(b, testPS); !errors.Is(err, errRecord) {
			t.Errorf("a run at page %d with high 10: %v, want errRecord", id, err)
		}
	}
}

// FuzzDecodeRecord: the page-image record decoder returns a record or an
// error, never panics, and what it accepts re-encodes to the same bytes
// (version 2 with a current meta) or to a record that decodes the same
// (version 1, or an older meta version).
func FuzzDecodeRecord(f *testing.F) {
	f.Add(testRecord())
	f.Add(testRecord()[:recordHeader+100])
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 10, TxID: 5}
	part := []dirtyRun{{id: 3, run: partRun(3, 1, 300, 'a')}, {id: 6, run: partRun(6, 2, testPS+10, 'b')}}
	f.Add(encodeRecord(nil, &m, testPS, part))
	f.Add(encodeRecordV1(&m, testPS, part))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		rec, err := decodeRecord(b, testPS)
		if err != nil {
			return
		}
		again := encodeRecord(nil, &rec.meta, testPS, rec.runs)
		// A record keeps the meta version of the folio that wrote it;
		// re-encoded, the meta is the current version.
		metaVersion := binary.LittleEndian.Uint32(b[recordHeader+page.HeaderSize+4:])
		if binary.LittleEndian.Uint32(b[4:]) == recordVersion && metaVersion == page.Version {
			if !bytes.Equal(again, b) {
				t.Fatalf("accepted a record that re-encodes differently")
			}
			return
		}
		rec2, err := decodeRecord(again, testPS)
		if err != nil || !sameRecord(rec, rec2) {
			t.Fatalf("a version 1 record, or one with an older meta, re-encodes to one that decodes differently: %v", err)
		}
	})
}

// TestRecordPartsAlias: a page-image record's parts refer to the runs'
// stored bytes rather than copy them (a run of a 16 MiB value was copied
// once more into the record), and the headers buffer is reused.
func TestRecordPartsAlias(t *testing.T) {
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 20, TxID: 5}
	runs := []dirtyRun{{id: 3, run: sealedRun(3, 1, 'a')}, {id: 6, run: partRun(6, 8, 3000, 'b')}}
	head, parts, n := recordParts(nil, nil, &m, testPS, runs)
	if len(parts) != 1+2*len(runs) {
		t.Fatalf("%d parts for %d runs", len(parts), len(runs))
	}
	for i, r := range runs {
		p := parts[2+2*i]
		if &p[0] != &r.run[0] || len(p) != storedLen(r.run) {
			t.Errorf("run %d: part of %d bytes is not the run's stored %d", i, len(p), storedLen(r.run))
		}
	}
	if rec := bytes.Join(parts, nil); len(rec) != n {
		t.Fatalf("parts hold %d bytes, recordParts says %d", len(rec), n)
	}
	head2, _, _ := recordParts(head, nil, &m, testPS, runs)
	if &head2[0] != &head[0] {
		t.Error("the headers buffer was not reused")
	}
}

// TestRecordMetaWithCommitRuns: a record's meta page never lists commit
// runs (a logged commit writes none; replay re-encodes the meta without
// them), so one that does is refused, and each record has one encoding
// (found by FuzzDecodeRecord, whose corpus keeps the input).
func TestRecordMetaWithCommitRuns(t *testing.T) {
	m := page.Meta{PageSize: testPS, Root: 3, RootSum: 7, High: 10, TxID: 5}
	for _, v1 := range []bool{false, true} {
		var b []byte
		if v1 {
			b = encodeRecordV1(&m, testPS, nil)
		} else {
			b = encodeRecord(nil, &m, testPS, nil)
		}
		metaAt, metaLen := recordHeader, int(binary.LittleEndian.Uint32(b[24:]))
		if v1 {
			metaAt, metaLen = recordHeaderV1, testPS
		}
		mp := make([]byte, testPS)
		page.EncodeMetaCommit(mp, 0, &m, []page.CommitRun{{ID: 4, Pages: 1, Sum: 9}})
		stored := mp
		if !v1 {
			stored = bytes.TrimRight(mp, "\x00")
			binary.LittleEndian.PutUint32(b[24:], uint32(len(stored)))
		}
		forged := append(append(append([]byte(nil), b[:metaAt]...), stored...), b[metaAt+metaLen:]...)
		if _, err := page.DecodeMeta(mp, 0); err != nil {
			t.Fatalf("the forged meta page does not decode: %v", err)
		}
		if _, err := decodeRecord(forged, testPS); !errors.Is(err, errRecord) {
			t.Errorf("version 1 %v: a meta listing commit runs: %v, want errRecord", v1, err)
		}
	}
}
