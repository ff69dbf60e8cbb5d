package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// record is a replayed record, its payload copied.
type record struct {
	lsn     uint64
	payload []byte
}

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func appendT(t testing.TB, l *Log, p []byte) uint64 {
	t.Helper()
	lsn, err := l.Append(p)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return lsn
}

func syncT(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func replayAll(t testing.TB, l *Log, from uint64) []record {
	t.Helper()
	var out []record
	err := l.Replay(from, func(lsn uint64, p []byte) error {
		out = append(out, record{lsn, bytes.Clone(p)})
		return nil
	})
	if err != nil {
		t.Fatalf("Replay(%d): %v", from, err)
	}
	return out
}

// checkRecords compares replayed records with want, the payloads of LSNs
// first, first+1, ...
func checkRecords(t testing.TB, got []record, first uint64, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.lsn != first+uint64(i) {
			t.Fatalf("record %d has lsn %d, want %d", i, r.lsn, first+uint64(i))
		}
		if !bytes.Equal(r.payload, want[i]) {
			t.Fatalf("lsn %d: payload differs (%d bytes, want %d)", r.lsn, len(r.payload), len(want[i]))
		}
	}
}

// payload makes a deterministic payload of n bytes: text that compresses
// when i is even, random bytes when it is odd.
func payload(i, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	p := make([]byte, n)
	if i%2 == 0 {
		words := []string{"folio ", "page ", "commit ", "leaf ", "branch "}
		var b []byte
		for len(b) < n {
			b = append(b, words[r.IntN(len(words))]...)
		}
		copy(p, b)
		return p
	}
	for j := range p {
		p[j] = byte(r.Uint32())
	}
	return p
}

// segFiles lists the live and free segment files in dir.
func segFiles(t testing.TB, dir string) (live, free []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), liveSuffix):
			live = append(live, filepath.Join(dir, e.Name()))
		case strings.HasSuffix(e.Name(), freeSuffix):
			free = append(free, filepath.Join(dir, e.Name()))
		}
	}
	return live, free
}

// crashImage copies dir's files: what a crash would leave if every write
// so far reached the disk. Tests then damage the copy.
func crashImage(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// frameAt is a frame's place in a segment file.
type frameAt struct {
	off  int64
	size int64
	lsn  uint64
}

// frames walks the whole frames of the segment file at path.
func frames(t testing.TB, path string) []frameAt {
	t.Helper()
	s, err := openSegment(filepath.Dir(path), mustNum(t, path), true, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	defer s.f.Close()
	if s.first == 0 {
		t.Fatalf("%s: no valid header", path)
	}
	var out []frameAt
	var sr segReader
	sr.reset(s.f, s.size)
	_, err = scanFrames(&sr, s.num, s.salt, segHeaderSize, s.size, s.first, func(off int64, h frameHeader, _ []byte) error {
		out = append(out, frameAt{off, h.size(), h.lsn})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testSalt is a fixed salt for segment num, never 0: for tests that write
// segments by hand, or forge frames knowing the salt (Options.salt).
func testSalt(num uint64) uint32 { return uint32(num)*0x9e3779b1 | 1 }

func mustNum(t testing.TB, path string) uint64 {
	t.Helper()
	num, _, ok := parseName(filepath.Base(path))
	if !ok {
		t.Fatalf("%s is not a segment name", path)
	}
	return num
}

// patch overwrites the file at path with b at off.
func patch(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// flip inverts one byte of the file at path.
func flip(t testing.TB, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	patch(t, path, off, []byte{^b[off]})
}

func TestRoundTrip(t *testing.T) {
	for _, opts := range []Options{{SegmentSize: 64 << 10}, {SegmentSize: 64 << 10, NoCompression: true}} {
		t.Run(fmt.Sprintf("nocompression=%v", opts.NoCompression), func(t *testing.T) {
			l := openLog(t, t.TempDir(), opts)
			defer closeLog(t, l)
			r := rand.New(rand.NewPCG(1, 2))
			var want [][]byte
			for i := range 300 {
				p := payload(i, r.IntN(20000))
				if i%50 == 0 {
					p = nil // empty records are records too
				}
				if lsn := appendT(t, l, p); lsn != uint64(i+1) {
					t.Fatalf("Append returned lsn %d, want %d", lsn, i+1)
				}
				want = append(want, p)
				if i%7 == 0 {
					syncT(t, l)
				}
			}
			syncT(t, l)
			if got := l.SyncedLSN(); got != 300 {
				t.Fatalf("SyncedLSN = %d, want 300", got)
			}
			checkRecords(t, replayAll(t, l, 0), 1, want)
			checkRecords(t, replayAll(t, l, 150), 150, want[149:])
			checkRecords(t, replayAll(t, l, 301), 301, nil)

			stopErr := errors.New("stop")
			n := 0
			err := l.Replay(1, func(uint64, []byte) error {
				if n++; n == 10 {
					return stopErr
				}
				return nil
			})
			if err != stopErr || n != 10 {
				t.Fatalf("Replay with a failing fn: err %v after %d records", err, n)
			}
		})
	}
}

func TestReopenContinues(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 << 10}
	var want [][]byte
	for round := range 6 {
		l := openLog(t, dir, opts)
		if got := l.LastLSN(); got != uint64(len(want)) {
			t.Fatalf("round %d: LastLSN %d after reopen, want %d", round, got, len(want))
		}
		checkRecords(t, replayAll(t, l, 1), 1, want)
		for i := range 25 {
			p := payload(len(want), 100+i*37)
			if lsn := appendT(t, l, p); lsn != uint64(len(want)+1) {
				t.Fatalf("round %d: lsn %d, want %d", round, lsn, len(want)+1)
			}
			want = append(want, p)
		}
		if round%2 == 0 {
			closeLog(t, l)
			continue
		}
		// A process that dies without Close: its writes are in the page
		// cache, so a new Open sees them all.
		syncT(t, l)
		img := crashImage(t, dir)
		closeLog(t, l)
		l2 := openLog(t, img, opts)
		checkRecords(t, replayAll(t, l2, 1), 1, want)
		closeLog(t, l2)
	}
	// Clean closes reuse the active segment instead of starting a new one.
	// (Bounded by the payloads' raw size: the compression backoff may
	// store compressible ones raw after incompressible ones.)
	raw := 0
	for _, p := range want {
		raw += frameHeaderSize + len(p) + frameAlign
	}
	live, _ := segFiles(t, dir)
	if max := raw/(16<<10) + 3; len(live) > max {
		t.Errorf("%d live segments for %d records: reopen does not reuse the tail", len(live), len(want))
	}
}

func TestTruncateRecycle(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 4, noSpares: true}
	l := openLog(t, dir, opts)
	var want [][]byte
	add := func(n int) {
		for range n {
			p := payload(len(want)+1, 500)
			appendT(t, l, p)
			want = append(want, p)
		}
		syncT(t, l)
	}
	add(100)
	live0, _ := segFiles(t, dir)
	size0 := l.Size()

	if err := l.Truncate(50); err != nil {
		t.Fatal(err)
	}
	live1, free1 := segFiles(t, dir)
	if len(live1) >= len(live0) || len(free1) != 4 {
		t.Fatalf("Truncate(50): %d live, %d free segments (before: %d live)", len(live1), len(free1), len(live0))
	}
	if l.Size() >= size0 {
		t.Fatalf("Size %d after Truncate, %d before", l.Size(), size0)
	}
	got := replayAll(t, l, 0)
	if len(got) == 0 || got[0].lsn > 51 || got[len(got)-1].lsn != 100 {
		t.Fatalf("after Truncate(50) replay covers %v..%v", got[0].lsn, got[len(got)-1].lsn)
	}
	checkRecords(t, replayAll(t, l, 51), 51, want[50:])

	// New segments come from the pool: no new files.
	add(20)
	live2, free2 := segFiles(t, dir)
	if len(live2)+len(free2) != len(live1)+len(free1) || len(free2) >= len(free1) {
		t.Fatalf("after appending: %d live + %d free files, before %d + %d", len(live2), len(free2), len(live1), len(free1))
	}
	checkRecords(t, replayAll(t, l, 51), 51, want[50:])
	closeLog(t, l)

	// Recycled files are full of old frames: none of them comes back.
	l = openLog(t, dir, opts)
	checkRecords(t, replayAll(t, l, 51), 51, want[50:])

	// Truncating everything keeps the active segment and the LSN count.
	if err := l.Truncate(l.LastLSN()); err != nil {
		t.Fatal(err)
	}
	if live, _ := segFiles(t, dir); len(live) != 1 {
		t.Fatalf("%d live segments after truncating everything", len(live))
	}
	closeLog(t, l)
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	if lsn := appendT(t, l, []byte("next")); lsn != uint64(len(want)+1) {
		t.Fatalf("lsn after full truncate and reopen: %d, want %d", lsn, len(want)+1)
	}
}

func TestTruncateNotBeyondSynced(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentSize: 4096, NoCompression: true, noSpares: true})
	defer closeLog(t, l)
	for i := range 40 {
		appendT(t, l, payload(i, 500))
	}
	live0, _ := segFiles(t, dir)
	if err := l.Truncate(40); err != nil {
		t.Fatal(err)
	}
	if live, _ := segFiles(t, dir); len(live) != len(live0) {
		t.Fatalf("Truncate dropped unsynced records: %d live segments, %d before", len(live), len(live0))
	}
	syncT(t, l)
	if err := l.Truncate(40); err != nil {
		t.Fatal(err)
	}
	if live, _ := segFiles(t, dir); len(live) != 1 {
		t.Fatalf("%d live segments after Sync and Truncate", len(live))
	}
}

func TestLargeRecord(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096}
	l := openLog(t, dir, opts)
	want := [][]byte{payload(1, 100), payload(3, 100<<10), payload(5, 100)}
	for _, p := range want {
		appendT(t, l, p)
	}
	syncT(t, l)
	checkRecords(t, replayAll(t, l, 1), 1, want)
	closeLog(t, l)
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	checkRecords(t, replayAll(t, l, 1), 1, want)

	if _, err := l.Append(make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append over MaxRecordSize: %v", err)
	}
}

func TestCompression(t *testing.T) {
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 1500)
	noise := payload(1, len(text))
	for _, tc := range []struct {
		name       string
		opts       Options
		p          []byte
		compressed bool
	}{
		{"text", Options{}, text, true},
		{"noise", Options{}, noise, false},
		{"text/nocompression", Options{NoCompression: true}, text, false},
		{"short", Options{}, text[:compressMin-1], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, tc.opts)
			appendT(t, l, tc.p)
			syncT(t, l)
			used := l.Size() - segHeaderSize
			if tc.compressed != (used < int64(len(tc.p))) {
				t.Errorf("%d-byte payload uses %d bytes of log", len(tc.p), used)
			}
			checkRecords(t, replayAll(t, l, 1), 1, [][]byte{tc.p})
			closeLog(t, l)

			live, _ := segFiles(t, dir)
			b, err := os.ReadFile(live[0])
			if err != nil {
				t.Fatal(err)
			}
			_, _, salt, err := parseSegHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			h, p, err := decodeFrame(b[segHeaderSize:], salt, nil, MaxRecordSize)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.flags&flagS2 != 0; got != tc.compressed {
				t.Errorf("compressed flag %v, want %v", got, tc.compressed)
			}
			if !bytes.Equal(p, tc.p) {
				t.Error("decoded payload differs")
			}
		})
	}
}

// TestCompressionBackoff: incompressible payloads stop costing an s2
// attempt each (one in 64 once the stretch is at its longest), and a
// compressible one after them is compressed again within 64 records.
func TestCompressionBackoff(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentSize: 1 << 20})
	defer closeLog(t, l)
	noise := payload(1, 4096)
	const n = 1000
	for range n {
		appendT(t, l, noise)
	}
	tries := l.gate.tries.Load()
	// 1 + 2 + 4 + ... + 64 records skip over the first seven failures.
	if tries > 7+(n-127)/64+1 || tries < n/65 {
		t.Fatalf("%d incompressible appends made %d compression attempts", n, tries)
	}
	text := bytes.Repeat([]byte("compressible "), 400)
	last := uint64(0)
	for i := range maxCompressSkip + 1 {
		appendT(t, l, text)
		last = uint64(n + i + 1)
	}
	syncT(t, l)
	var compressed int
	err := l.Replay(n+1, func(lsn uint64, p []byte) error {
		if !bytes.Equal(p, text) {
			return fmt.Errorf("record %d differs", lsn)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The last text record is compressed: its attempt came at the latest
	// after the longest stretch, and success ends the backoff.
	if l.gate.skip.Load() != 0 || l.gate.streak.Load() != 0 {
		t.Fatalf("after %d compressible appends the gate still skips (%d, stretch %d)", last-n, l.gate.skip.Load(), l.gate.streak.Load())
	}
	compressed = int(l.gate.tries.Load() - tries)
	if compressed == 0 {
		t.Fatal("no compressible record was compressed")
	}
}

func TestClosed(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	appendT(t, l, []byte("x"))
	closeLog(t, l)
	if _, err := l.Append([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := l.Replay(0, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Replay after Close: %v", err)
	}
	if err := l.Truncate(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Truncate after Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := l.SyncTo(1); err != nil {
		t.Errorf("SyncTo of a synced record after Close: %v", err)
	}
}

func TestOpenIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"README", "00000000000000zz.wal", "0000000000000000.wal", "1.wal"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a segment"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := openLog(t, dir, Options{})
	appendT(t, l, []byte("x"))
	closeLog(t, l)
	l = openLog(t, dir, Options{})
	defer closeLog(t, l)
	checkRecords(t, replayAll(t, l, 1), 1, [][]byte{[]byte("x")})
}

// TestStrayLiveFile: a live-named file that is not a segment (an
// activation that never wrote its header) is recycled, not read.
func TestStrayLiveFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentSize: 4096})
	appendT(t, l, []byte("x"))
	closeLog(t, l)
	stray := filepath.Join(dir, liveName(1000))
	if err := os.WriteFile(stray, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{SegmentSize: 4096})
	defer closeLog(t, l)
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray live file still there: %v", err)
	}
	if lsn := appendT(t, l, []byte("y")); lsn != 2 {
		t.Errorf("lsn %d, want 2", lsn)
	}
	checkRecords(t, replayAll(t, l, 1), 1, [][]byte{[]byte("x"), []byte("y")})
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		num      uint64
		free, ok bool
	}{
		{liveName(7), 7, false, true},
		{freeName(0xabc), 0xabc, true, true},
		{"0000000000000000.wal", 0, false, false},
		{"000000000000007.wal", 0, false, false},
		{"000000000000000g.wal", 0, false, false},
		{"0000000000000007.log", 0, false, false},
	} {
		num, free, ok := parseName(tc.name)
		if num != tc.num || free != tc.free || ok != tc.ok {
			t.Errorf("parseName(%q) = %d, %v, %v", tc.name, num, free, ok)
		}
	}
}

// TestReadWindow checks segReader across window edges, including a frame
// bigger than the window.
func TestReadWindow(t *testing.T) {
	data := payload(1, 3*readWindow+123)
	var sr segReader
	sr.reset(bytes.NewReader(data), int64(len(data)))
	for _, c := range []struct{ off, n int }{{0, 32}, {readWindow - 16, 32}, {5, readWindow + 100}, {len(data) - 1, 1}, {0, len(data)}} {
		b, err := sr.bytes(int64(c.off), c.n)
		if err != nil || !bytes.Equal(b, data[c.off:c.off+c.n]) {
			t.Fatalf("bytes(%d, %d): %v", c.off, c.n, err)
		}
	}
	sr.reset(shortReader{data}, int64(len(data))+10)
	if _, err := sr.bytes(int64(len(data))-4, 8); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read past the data: %v", err)
	}
}

type shortReader struct{ b []byte }

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestSpareHandover: the first segment of a new log is cold (fallocated);
// once the spare maker has a warm one ready, appends move there, and the
// cold segment is deleted, not recycled, when it is truncated.
func TestSpareHandover(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1 << 20}
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	l.bg.Wait() // the spare is ready
	l.mu.Lock()
	cold, free := l.segs[0].cold, slices.Clone(l.free)
	l.mu.Unlock()
	if !cold || len(free) != 1 || !free[0].warm {
		t.Fatalf("after Open: first segment cold %v, pool %+v", cold, free)
	}
	appendT(t, l, []byte("a"))
	l.bg.Wait() // the pool ran dry: the next spare
	appendT(t, l, []byte("b"))
	syncT(t, l)
	l.mu.Lock()
	n, active := len(l.segs), l.segs[len(l.segs)-1]
	l.mu.Unlock()
	if n != 2 || active.cold {
		t.Fatalf("%d live segments, active cold %v: no handover to the warm spare", n, active.cold)
	}
	live, _ := segFiles(t, dir)
	first := live[0]
	if err := l.Truncate(l.LastLSN()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cold segment %s still there: %v", first, err)
	}
	_, freeFiles := segFiles(t, dir)
	if len(freeFiles) != 1 {
		t.Fatalf("%d free segments, want the one warm spare", len(freeFiles))
	}
	checkRecords(t, replayAll(t, l, 1), 1, [][]byte{[]byte("a"), []byte("b")})
}

// dirState is every file name in dir with its contents.
func dirState(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st[e.Name()] = string(b)
	}
	return st
}

// TestReadOnly: a read-only log reads what recovery finds and changes no
// byte and no name, even where a read-write Open would (a torn tail, a
// spare to make), and it can read while a writer appends.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true}
	w := openLog(t, dir, opts)
	var want [][]byte
	for i := range 20 {
		want = append(want, payload(i, 300))
		appendT(t, w, want[i])
	}
	syncT(t, w)
	w.bg.Wait()

	ro := opts
	ro.ReadOnly = true
	r := openLog(t, dir, ro)
	checkRecords(t, replayAll(t, r, 1), 1, want)
	if _, err := r.Append([]byte("x")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append on a read-only log: %v", err)
	}
	if err := r.Truncate(5); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Truncate on a read-only log: %v", err)
	}
	if err := r.Sync(); err != nil {
		t.Errorf("Sync on a read-only log: %v", err)
	}

	// The writer carries on; the reader keeps what it opened with.
	appendT(t, w, []byte("later"))
	syncT(t, w)
	checkRecords(t, replayAll(t, r, 1), 1, want)
	closeLog(t, r)
	closeLog(t, w)

	// A torn tail, which a read-write Open would move past.
	img := crashImage(t, dir)
	live, _ := segFiles(t, img)
	fr := frames(t, live[len(live)-1])
	patch(t, live[len(live)-1], fr[len(fr)-1].off+frameHeaderSize, []byte("torn"))
	before := dirState(t, img)
	r = openLog(t, img, ro)
	checkRecords(t, replayAll(t, r, 1), 1, want)
	closeLog(t, r)
	if after := dirState(t, img); !maps.Equal(after, before) {
		t.Error("a read-only open changed the directory")
	}

	if _, err := Open(filepath.Join(dir, "missing"), ro); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open of a missing log: %v", err)
	}
}
