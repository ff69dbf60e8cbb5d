package wal

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestSegmentNumberNearTop: a file named with a segment number near 2^64
// is not a segment. Before, the log numbered its next segments past it:
// the count wrapped to 0, a name Open ignores, and the records appended
// in that segment were gone at the next open.
func TestSegmentNumberNearTop(t *testing.T) {
	dir := t.TempDir()
	stray := filepath.Join(dir, liveName(math.MaxUint64-1))
	if err := os.WriteFile(stray, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
	want := buildLog(t, dir, opts, 40, 300, true)
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	checkRecords(t, replayAll(t, l, 1), 1, want)
}
