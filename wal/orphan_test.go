package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeSegment writes segment num of size bytes into dir: a header saying
// it starts at first, then a frame for each payload, with LSNs first,
// first+1, ..., each claiming durable the LSN durable(lsn).
func writeSegment(t *testing.T, dir string, num, first uint64, size int64, payloads [][]byte, durable func(lsn uint64) uint64) {
	t.Helper()
	b := make([]byte, size)
	putSegHeader(b, num, first, testSalt(num))
	off := int64(segHeaderSize)
	for i, p := range payloads {
		fb := buildFrame(p, false)
		lsn := first + uint64(i)
		fb.seal(lsn, num, testSalt(num), durable(lsn))
		off += int64(copy(b[off:], fb.b))
		fb.release()
	}
	if err := os.WriteFile(filepath.Join(dir, liveName(num)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOrphanSegment: code before the fix in Append, when a segment switch
// failed after the new segment's header was written, went on appending in
// the old segment and later switched again, leaving an empty segment
// whose first LSN the old one went past, between the old segment and the
// next. Recovery follows the chain past such orphans (it holds no frame,
// and the LSNs it claims are whole records before it); before, it
// reported ErrCorrupt when a later frame vouched for the records after
// the orphan, and otherwise dropped them as a torn tail. A segment in
// that place that holds a frame of its own is not an orphan.
func TestOrphanSegment(t *testing.T) {
	const size = 4096
	opts := Options{SegmentSize: size, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
	for _, tc := range []struct {
		name    string
		orphans []uint64 // the first LSN each orphan's header claims
		vouched bool     // the frames after the orphans claim earlier ones durable
		ownLSN  uint64   // if not 0, the (first) orphan holds a frame of this LSN
		ok      bool
	}{
		{"vouched", []uint64{8}, true, 0, true},
		{"unvouched", []uint64{8}, false, 0, true},
		{"two-orphans", []uint64{6, 9}, true, 0, true},
		{"orphan-holds-a-frame", []uint64{8}, true, 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := buildLog(t, dir, opts, 10, 200, true) // segment 1: LSNs 1-10
			if live, _ := segFiles(t, dir); len(live) != 1 {
				t.Fatalf("%d segments, want 1", len(live))
			}
			num := uint64(2)
			for i, first := range tc.orphans {
				var own [][]byte
				if i == 0 && tc.ownLSN != 0 {
					own = [][]byte{want[tc.ownLSN-1]}
				}
				writeSegment(t, dir, num, first, size, own, func(lsn uint64) uint64 { return lsn - 1 })
				num++
			}
			var more [][]byte
			for i := range 5 {
				more = append(more, []byte(fmt.Sprintf("after the orphan %d", i)))
			}
			durable := func(uint64) uint64 { return 10 }
			if tc.vouched {
				durable = func(lsn uint64) uint64 { return lsn - 1 }
			}
			writeSegment(t, dir, num, 11, size, more, durable)
			want = append(want, more...)

			l, err := Open(dir, opts)
			if !tc.ok {
				if err == nil {
					l.Close()
					t.Fatal("open succeeded")
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, replayAll(t, l, 1), 1, want)
			if live, _ := segFiles(t, dir); len(live) != 2 {
				t.Fatalf("live segments %v, want the orphans recycled", live)
			}
			want = append(want, []byte("next"))
			if lsn := appendT(t, l, want[len(want)-1]); lsn != uint64(len(want)) {
				t.Fatalf("append got lsn %d, want %d", lsn, len(want))
			}
			closeLog(t, l)
			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			checkRecords(t, replayAll(t, l, 1), 1, want)
		})
	}
}
