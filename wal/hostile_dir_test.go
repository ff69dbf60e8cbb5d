package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestDamagedFirstHeader: a damaged header on the oldest segment is
// corruption, reported with the file, not a segment to recycle. Before,
// recovery started the log at the next segment with a valid header,
// dropping the records before it without a word, or, with a lone segment,
// restarted the log at LSN 1; and Open recycled the damaged file.
func TestDamagedFirstHeader(t *testing.T) {
	opts := Options{SegmentSize: 16 << 10, NoCompression: true, noSpares: true}
	for _, tc := range []struct {
		name   string
		n      int // records of 500 bytes, synced one by one
		damage func(t *testing.T, path string)
	}{
		{"lone segment, bit", 20, func(t *testing.T, path string) { flip(t, path, offSegFirst) }},
		{"lone segment, zeroed", 20, func(t *testing.T, path string) { patch(t, path, 0, make([]byte, segHeaderSize)) }},
		{"oldest of several", 200, func(t *testing.T, path string) { flip(t, path, offSegNumber) }},
		// The salt lost with the header: the first frame gives it back.
		{"lone segment, salt", 20, func(t *testing.T, path string) { flip(t, path, offSegSalt) }},
		{"lone segment, version", 20, func(t *testing.T, path string) { flip(t, path, offSegVersion) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, opts, tc.n, 500, true)
			live, _ := segFiles(t, dir)
			if (tc.n > 100) != (len(live) > 1) {
				t.Fatalf("%d segments for %d records", len(live), tc.n)
			}
			tc.damage(t, live[0])
			for _, ro := range []bool{true, false} {
				o := opts
				o.ReadOnly = ro
				l, err := Open(dir, o)
				if err == nil {
					t.Errorf("read-only %v: Open succeeded, LastLSN %d, replaying %d records", ro, l.LastLSN(), len(replayAll(t, l, 0)))
					l.Close()
					continue
				}
				var ce *CorruptError
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != live[0] || ce.Segment != mustNum(t, live[0]) {
					t.Fatalf("read-only %v: Open: %v, want ErrCorrupt naming %s", ro, err, live[0])
				}
				t.Log(err)
			}
			if _, err := os.Stat(live[0]); err != nil {
				t.Fatalf("the damaged segment is gone: %v", err)
			}
		})
	}

	// The other side: files before the log that are no damage. A
	// recycled segment given a new number keeps its old frames; if a
	// crash kept its old name, its header is not its own, and its frames
	// are not either, or the header is a valid one for another number
	// (the new header reached the disk, the rename did not).
	for _, tc := range []struct {
		name  string
		stray func(t *testing.T, seg1, oldest []byte) []byte
	}{
		{"stale frames", func(t *testing.T, seg1, oldest []byte) []byte {
			oldest[offSegFirst] ^= 1
			return oldest
		}},
		{"header of another number", func(t *testing.T, seg1, oldest []byte) []byte {
			putSegHeader(seg1, 99, 1, testSalt(99))
			return seg1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
			l := openLog(t, dir, o)
			var want [][]byte
			for i := range 40 {
				want = append(want, payload(i, 400))
				appendT(t, l, want[i])
			}
			syncT(t, l)
			stray := l.segs[0].path
			seg1, err := os.ReadFile(stray)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Truncate(20); err != nil {
				t.Fatal(err)
			}
			first := l.segs[0]
			closeLog(t, l)
			if first.num < 3 {
				t.Fatalf("oldest live segment is %d", first.num)
			}
			oldest, err := os.ReadFile(first.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stray, tc.stray(t, seg1, oldest), 0o644); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, o)
			defer closeLog(t, l)
			checkRecords(t, replayAll(t, l, first.first), first.first, want[first.first-1:])
			if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("stray segment not recycled: %v", err)
			}
		})
	}
}

// TestNonSegmentEntries: entries named like segments that are not segment
// files keep their numbers from new segments, and symbolic links to
// segments are segments. Before, a directory named like the next segment
// failed Open (EEXIST) or the next segment switch (the rename), an
// upper-case name failed Open (it opened the lower-case name), and a link
// was skipped: its records lost, or Open failed as for a directory.
func TestNonSegmentEntries(t *testing.T) {
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
	carryOn := func(t *testing.T, dir string, want [][]byte) {
		t.Helper()
		l := openLog(t, dir, opts)
		checkRecords(t, replayAll(t, l, 1), 1, want)
		for i := range 30 { // across several segments
			want = append(want, payload(1000+i, 400))
			appendT(t, l, want[len(want)-1])
		}
		syncT(t, l)
		closeLog(t, l)
		l = openLog(t, dir, opts)
		defer closeLog(t, l)
		checkRecords(t, replayAll(t, l, 1), 1, want)
	}
	mkdir := func(t *testing.T, path string) {
		t.Helper()
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("directory, new log", func(t *testing.T) {
		dir := t.TempDir()
		mkdir(t, filepath.Join(dir, liveName(1)))
		carryOn(t, dir, nil)
	})
	t.Run("directories, next numbers", func(t *testing.T) {
		dir := t.TempDir()
		want := buildLog(t, dir, opts, 20, 400, true)
		live, _ := segFiles(t, dir)
		next := mustNum(t, live[len(live)-1]) + 1
		mkdir(t, filepath.Join(dir, liveName(next)))
		mkdir(t, filepath.Join(dir, freeName(next+1)))
		carryOn(t, dir, want)
	})
	t.Run("upper-case name", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "000000000000000A.wal"), []byte("not a segment"), 0o644); err != nil {
			t.Fatal(err)
		}
		carryOn(t, dir, nil)
	})
	t.Run("symbolic link", func(t *testing.T) {
		dir, elsewhere := t.TempDir(), t.TempDir()
		want := buildLog(t, dir, opts, 20, 400, true)
		live, _ := segFiles(t, dir)
		if len(live) < 2 {
			t.Fatalf("%d segments", len(live))
		}
		moved := filepath.Join(elsewhere, filepath.Base(live[0]))
		if err := os.Rename(live[0], moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(moved, live[0]); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
		carryOn(t, dir, want)
	})
	t.Run("dangling symbolic link", func(t *testing.T) {
		dir := t.TempDir()
		buildLog(t, dir, opts, 20, 400, true)
		live, _ := segFiles(t, dir)
		if err := os.Remove(live[0]); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(t.TempDir(), "gone"), live[0]); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
		if l, err := Open(dir, opts); err == nil {
			l.Close()
			t.Fatal("Open passed over a live segment name that leads nowhere")
		} else {
			t.Log(err)
		}
	})
}

// TestReplayShrunkSegment: a segment cut short under an open log is
// corruption, reported with the file and the frame. Before, Replay
// returned a bare io.ErrUnexpectedEOF.
func TestReplayShrunkSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true}
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	for i := range 20 {
		appendT(t, l, payload(i, 500))
	}
	syncT(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	if err := os.Truncate(live[0], fr[12].off+frameHeaderSize+7); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := l.Replay(1, func(uint64, []byte) error { n++; return nil })
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != live[0] || ce.Offset != fr[12].off || ce.LSN != 13 {
		t.Fatalf("Replay of a segment cut short at lsn 13 (offset %d): %v", fr[12].off, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || n != 12 {
		t.Fatalf("replayed %d records; error %v", n, err)
	}
	t.Log(err)
}

// TestReadStaleListing: a segment that a writer in another process
// truncates between a read-only Open's listing of the directory and its
// opening of the file is passed over, as a listing a moment later would
// have. Before, Open failed with ENOENT (some 1 in 200 read-only opens of
// a log whose writer truncates often).
func TestReadStaleListing(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: true}
	w := openLog(t, dir, opts)
	defer closeLog(t, w)
	var want [][]byte
	for i := range 40 {
		want = append(want, payload(i, 300))
		appendT(t, w, want[i])
	}
	syncT(t, w)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	from := w.segs[2].first
	if err := w.Truncate(from); err != nil { // recycles the two oldest
		t.Fatal(err)
	}

	ro := opts
	ro.ReadOnly = true
	r := &Log{dir: dir, opts: ro.normalize(), nextNum: 1}
	files, err := r.readEntries(entries)
	defer func() {
		for _, s := range files {
			s.f.Close()
		}
	}()
	if err != nil {
		t.Fatalf("reading a listing made before a Truncate: %v", err)
	}
	rec, err := recoverLog(files, false)
	if err != nil {
		t.Fatal(err)
	}
	if rec.next != uint64(len(want))+1 || rec.chain[0].first != from {
		t.Fatalf("recovered lsns %d..%d, want %d..%d", rec.chain[0].first, rec.next-1, from, len(want))
	}
}

// TestDamagedActiveHeader: a damaged header on the newest segment, whose
// synced records no later frame vouches for (they went in before one
// sync), is corruption naming that segment. Before, the log ended at the
// previous segment and those acknowledged records were dropped.
func TestDamagedActiveHeader(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
	l := openLog(t, dir, o)
	for i := range 5 {
		appendT(t, l, payload(i, 400))
		syncT(t, l)
	}
	for i := 5; i < 15; i++ {
		appendT(t, l, payload(i, 400))
	}
	syncT(t, l)
	if len(l.segs) < 2 {
		t.Fatalf("%d segments: the test needs two", len(l.segs))
	}
	last := l.segs[len(l.segs)-1]
	closeLog(t, l)
	flip(t, last.path, offSegNumber)

	l, err := Open(dir, o)
	if err == nil {
		t.Fatalf("Open succeeded, LastLSN %d of 15", l.LastLSN())
	}
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != last.path {
		t.Fatalf("Open: %v, want ErrCorrupt naming %s", err, last.path)
	}
	if _, err := os.Stat(last.path); err != nil {
		t.Fatalf("the damaged segment is gone: %v", err)
	}
}
