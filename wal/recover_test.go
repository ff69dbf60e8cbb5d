package wal

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// buildLog appends n records of about size bytes to a fresh log in dir,
// syncing after each when syncEach is set, and returns their payloads.
func buildLog(t *testing.T, dir string, opts Options, n, size int, syncEach bool) [][]byte {
	t.Helper()
	l := openLog(t, dir, opts)
	var want [][]byte
	for i := range n {
		p := payload(i, size+i)
		appendT(t, l, p)
		want = append(want, p)
		if syncEach {
			syncT(t, l)
		}
	}
	closeLog(t, l)
	return want
}

// TestTornTail: damage to the records that nothing later vouches for ends
// the log at the last whole record, and the log carries on from there.
func TestTornTail(t *testing.T) {
	opts := Options{SegmentSize: 64 << 10, noSpares: true}
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string, last frameAt)
	}{
		{"cut mid-payload", func(t *testing.T, path string, last frameAt) {
			if err := os.Truncate(path, last.off+frameHeaderSize+9); err != nil {
				t.Fatal(err)
			}
		}},
		{"cut mid-header", func(t *testing.T, path string, last frameAt) {
			if err := os.Truncate(path, last.off+5); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeroed from mid-payload", func(t *testing.T, path string, last frameAt) {
			patch(t, path, last.off+frameHeaderSize+9, make([]byte, opts.SegmentSize-last.off-frameHeaderSize-9))
		}},
		{"zeroed frame", func(t *testing.T, path string, last frameAt) {
			patch(t, path, last.off, make([]byte, last.size))
		}},
		{"garbage payload", func(t *testing.T, path string, last frameAt) {
			patch(t, path, last.off+frameHeaderSize, payload(99, int(last.size)-frameHeaderSize))
		}},
		{"garbage header", func(t *testing.T, path string, last frameAt) {
			patch(t, path, last.off, payload(99, frameHeaderSize))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := buildLog(t, dir, opts, 20, 1000, true)
			live, _ := segFiles(t, dir)
			fr := frames(t, live[0])
			tc.tear(t, live[0], fr[len(fr)-1])

			l := openLog(t, dir, opts)
			if got := l.LastLSN(); got != 19 {
				t.Fatalf("LastLSN %d after a torn last record, want 19", got)
			}
			checkRecords(t, replayAll(t, l, 1), 1, want[:19])
			want = append(want[:19], []byte("after the tear"), payload(7, 3000))
			appendT(t, l, want[19])
			appendT(t, l, want[20])
			closeLog(t, l)

			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			checkRecords(t, replayAll(t, l, 1), 1, want)
		})
	}
}

// TestUnsyncedTail: records written after the last sync may reach the disk
// in any order. A hole among them is a tear, not corruption, however many
// whole records follow it.
func TestUnsyncedTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, noSpares: true}
	l := openLog(t, dir, opts)
	var want [][]byte
	for i := range 10 {
		want = append(want, payload(i, 500))
		appendT(t, l, want[i])
	}
	syncT(t, l)
	for i := 10; i < 20; i++ {
		appendT(t, l, payload(i, 500))
	}
	img := crashImage(t, dir)
	closeLog(t, l)

	live, _ := segFiles(t, img)
	fr := frames(t, live[0])
	flip(t, live[0], fr[10].off+frameHeaderSize+3) // record 11's payload never made it
	l = openLog(t, img, opts)
	if got := l.LastLSN(); got != 10 {
		t.Fatalf("LastLSN %d, want 10", got)
	}
	checkRecords(t, replayAll(t, l, 1), 1, want)

	// The whole frames of records 12..20 carry the LSNs the log hands out
	// next: none of them may ever be read as a new record.
	want = append(want, []byte("new 11"), []byte("new 12"))
	appendT(t, l, want[10])
	appendT(t, l, want[11])
	syncT(t, l)
	if live2, _ := segFiles(t, img); len(live2) != 2 {
		t.Fatalf("%d live segments: appends did not move past the torn segment", len(live2))
	}
	img2 := crashImage(t, img) // no Close: the next Open must cope alone
	closeLog(t, l)
	for _, d := range []string{img, img2} {
		l = openLog(t, d, opts)
		checkRecords(t, replayAll(t, l, 1), 1, want)
		closeLog(t, l)
	}
}

// TestCorruptMiddle: a damaged record with synced records after it is
// corruption, reported with its place, never skipped.
func TestCorruptMiddle(t *testing.T) {
	opts := Options{SegmentSize: 64 << 10, noSpares: true}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, f frameAt)
	}{
		{"payload bit", func(t *testing.T, path string, f frameAt) { flip(t, path, f.off+frameHeaderSize+1) }},
		{"lsn bit", func(t *testing.T, path string, f frameAt) { flip(t, path, f.off+offLSN) }},
		{"length bit", func(t *testing.T, path string, f frameAt) { flip(t, path, f.off+offLength+1) }},
		{"zeroed frame", func(t *testing.T, path string, f frameAt) { patch(t, path, f.off, make([]byte, f.size)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, opts, 20, 1000, true)
			live, _ := segFiles(t, dir)
			fr := frames(t, live[0])
			tc.damage(t, live[0], fr[9])

			_, err := Open(dir, opts)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Open of a log with a damaged synced record: %v", err)
			}
			if ce.Path != live[0] || ce.Segment != mustNum(t, live[0]) || ce.Offset != fr[9].off || ce.LSN != 10 {
				t.Fatalf("CorruptError %+v, want segment %s offset %d lsn 10", ce, live[0], fr[9].off)
			}
			t.Log(err)
		})
	}

	// The other side: the same damage with nothing synced after it is a
	// torn tail (see the NB in the package doc).
	t.Run("nothing vouches", func(t *testing.T) {
		dir := t.TempDir()
		buildLog(t, dir, opts, 20, 1000, false)
		live, _ := segFiles(t, dir)
		fr := frames(t, live[0])
		flip(t, live[0], fr[9].off+frameHeaderSize+1)
		l := openLog(t, dir, opts)
		defer closeLog(t, l)
		if got := l.LastLSN(); got != 9 {
			t.Fatalf("LastLSN %d, want 9", got)
		}
	})
}

// TestCorruptAcrossSegments: the proof that a record was durable can sit in
// a later segment, and a damaged segment header counts too.
func TestCorruptAcrossSegments(t *testing.T) {
	opts := Options{SegmentSize: 4096, NoCompression: true, noSpares: true}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, live []string)
	}{
		{"last record of a full segment", func(t *testing.T, live []string) {
			fr := frames(t, live[1])
			flip(t, live[1], fr[len(fr)-1].off+frameHeaderSize)
		}},
		{"segment header", func(t *testing.T, live []string) { flip(t, live[2], offSegFirst) }},
		{"segment file lost", func(t *testing.T, live []string) {
			if err := os.Remove(live[2]); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, opts, 40, 400, true)
			live, _ := segFiles(t, dir)
			if len(live) < 4 {
				t.Fatalf("only %d segments", len(live))
			}
			tc.damage(t, live)
			if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			} else {
				t.Log(err)
			}
		})
	}
}

// TestReplaySeesDamage: bytes that change under an open log are caught by
// Replay, which knows exactly what each segment holds.
func TestReplaySeesDamage(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, noSpares: true}
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	for i := range 10 {
		appendT(t, l, payload(i, 700))
	}
	syncT(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	flip(t, live[0], fr[9].off+frameHeaderSize) // the last record, even
	err := l.Replay(1, func(uint64, []byte) error { return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.LSN != 10 || ce.Offset != fr[9].off {
		t.Fatalf("Replay over a damaged record: %v", err)
	}
}

// TestOpenAfterActivationCrash: a segment activated (renamed, header
// written) whose header never reached the disk is a spare, not damage.
func TestOpenAfterActivationCrash(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, noSpares: true}
	want := buildLog(t, dir, opts, 12, 400, true)
	live, _ := segFiles(t, dir)
	last := live[len(live)-1]
	if fr := frames(t, last); len(fr) != 0 {
		// Make the last segment one with a header and nothing else.
		patch(t, last, segHeaderSize, make([]byte, 4096-segHeaderSize))
		want = want[:fr[0].lsn-1]
	}
	patch(t, last, 0, make([]byte, segHeaderSize))
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	checkRecords(t, replayAll(t, l, 1), 1, want)
}

// TestRecoverSyncsChain: a reopened log treats every record it found as
// durable (SyncedLSN is LastLSN, and the next frame's unsynced field says
// so), but the previous process may have died with them only in the page
// cache. So Open fdatasyncs each live segment it recovered before it
// returns (sync.go, INVARIANT (1)); a crash after a new frame vouched for
// them would otherwise find them torn and call the log corrupt.
func TestRecoverSyncsChain(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, noSpares: true}
	l := openLog(t, dir, opts)
	for i := range 12 {
		appendT(t, l, payload(i, 900)) // several segments' worth
	}
	// Close syncs them, but the next Open cannot tell a closed log from
	// a killed one.
	closeLog(t, l)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, e := range entries {
		if _, free, ok := parseName(e.Name()); ok && !free {
			live[e.Name()] = true
		}
	}
	if len(live) < 3 {
		t.Fatalf("want a chain of several segments, have %d", len(live))
	}
	s := &syncSeams{}
	synced := map[string]bool{}
	s.hook = func(_ int, what string) {
		if name, ok := strings.CutPrefix(what, "fdatasync "); ok {
			synced[name] = true
		}
	}
	l2, err := open(dir, opts, s.dataSync, s.dirSync)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog(t, l2)
	if l2.SyncedLSN() != l2.LastLSN() || l2.LastLSN() != 12 {
		t.Fatalf("reopened: synced lsn %d, last %d; want 12, 12", l2.SyncedLSN(), l2.LastLSN())
	}
	for name := range live {
		if !synced[name] {
			t.Errorf("Open recovered segment %s, whose records it now reports durable, without an fdatasync", name)
		}
	}
}
