package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// noSalt is Options.salt for a log of the first format (version 1), as
// folio before the salt wrote it.
func noSalt(uint64) uint32 { return 0 }

// fittingBait is a payload of forged frames of segments 1 to 7, built as
// anyone can without a segment's salt (version 1's checksums), each
// holding lsn and claiming lsn-1 durable: when lsn-1 is the record torn,
// each is, but for the salt, proof that the torn record had been durable
// that fits the bound on proof (scanTail's room).
func fittingBait(lsn uint64) []byte { return baitPayload(lsn, noSalt) }

// openClean opens dir with opts and with AllowHole, and checks that each
// opens with no error and no hole, with the records want from lsn 1.
func openClean(t *testing.T, dir string, opts Options, want [][]byte) {
	t.Helper()
	for _, allowHole := range []bool{false, true} {
		o := opts
		o.AllowHole = allowHole
		l, err := Open(dir, o)
		if err != nil {
			t.Fatalf("AllowHole %v: Open: %v, want a torn tail", allowHole, err)
		}
		if next, herr := l.Hole(); herr != nil {
			t.Errorf("AllowHole %v: a torn tail reported as a hole before lsn %d: %v", allowHole, next, herr)
		}
		if got := l.LastLSN(); got != uint64(len(want)) {
			t.Errorf("AllowHole %v: LastLSN %d, want %d", allowHole, got, len(want))
		}
		checkRecords(t, replayAll(t, l, 1), 1, want)
		closeLog(t, l)
	}
}

// A crash mid-append of a record whose payload holds frames forged for
// the log's segment numbers, claiming the torn record durable (an lsn
// that fits the bound on proof): its header and the bait reached the
// disk, the rest of its payload did not. Open took the forged frames for
// proof that a durable record was damaged and refused the log
// (ErrCorrupt, with AllowHole too), and the database with it after a
// mere crash. The frames, built without the segment's salt, now fail
// their header checksums: a torn tail, every earlier record replayed.
func TestSaltBaitInTornRecord(t *testing.T) {
	opts := Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true}
	dir := t.TempDir()
	want := buildLog(t, dir, opts, 5, 500, true)
	bait := fittingBait(7) // the torn record is lsn 6
	l := openLog(t, dir, opts)
	appendT(t, l, append(bytes.Clone(bait), payload(1, 2000)...))
	closeLog(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	d := fr[len(fr)-1]
	tornAt := d.off + frameHeaderSize + int64(len(bait)) + 100
	patch(t, live[0], tornAt, make([]byte, d.off+d.size-tornAt))

	openClean(t, dir, opts, want)
}

// The same bait in a recycled segment's earlier life: forged frames of
// the number the file gets when it is reused, holding the lsn after the
// end of a cleanly closed log. Open took them for proof that the last
// record was damaged (TestHoleRecycledBaitStrictOpen's NB: an lsn that
// fits still counted). A segment's frames are salted with a salt drawn
// when the file takes its number, which no earlier life knew.
func TestSaltRecycledBait(t *testing.T) {
	opts := Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true}
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	var want [][]byte
	add := func(p []byte) {
		appendT(t, l, p)
		want = append(want, p)
	}
	for range 40 {
		add(payload(1, 1000))
	}
	// Segment 1's file becomes segment 3: frames of segment 3 claiming
	// lsns 99 to 298 durable, past the log's end (lsn 56), and near
	// enough to fit the bound on proof.
	var bait []byte
	for lsn := uint64(100); lsn < 300; lsn++ {
		bait = append(bait, forgedFrame(3, 0, lsn, forgedPayload)...)
	}
	add(bait)
	for len(l.segs) == 1 {
		add(payload(1, 1000))
	}
	syncT(t, l)
	if err := l.Truncate(l.segs[1].first - 1); err != nil {
		t.Fatal(err)
	}
	dropped := l.segs[0].first - 1
	for n := len(l.segs); len(l.segs) == n; {
		add(payload(1, 1000))
	}
	if s := l.segs[len(l.segs)-1]; s.num != 3 || s.cold {
		t.Fatalf("the last segment is %d (cold %v), want segment 1's file as 3", s.num, s.cold)
	}
	add(payload(3, 100))
	closeLog(t, l)
	want = want[dropped:]

	for _, allowHole := range []bool{false, true} {
		o := opts
		o.AllowHole = allowHole
		l, err := Open(dir, o)
		if err != nil {
			t.Fatalf("AllowHole %v: Open after a clean Close: %v", allowHole, err)
		}
		if got := l.LastLSN(); got != dropped+uint64(len(want)) {
			t.Errorf("AllowHole %v: LastLSN %d, want %d", allowHole, got, dropped+uint64(len(want)))
		}
		checkRecords(t, replayAll(t, l, dropped+1), dropped+1, want)
		closeLog(t, l)
	}
}

// A segment's frames from an earlier life never count, even under its
// present number: sealed with another salt, they fail. The strongest
// form, by hand: frames of the same number as the segment's, the lsns
// after its records, right after them, each claiming the one before it
// durable. Without salts they were records (lsn 4 to 6).
func TestSaltStaleLifeFrames(t *testing.T) {
	dir := t.TempDir()
	const num, salt, stale = 5, 0x5a17, 0xdead
	b := make([]byte, 16<<10)
	putSegHeader(b, num, 1, salt)
	off := segHeaderSize
	var want [][]byte
	for lsn := uint64(1); lsn <= 6; lsn++ {
		p := payload(int(lsn), 200)
		fb := buildFrame(p, false)
		s := uint32(salt)
		if lsn > 3 {
			s = stale
		} else {
			want = append(want, p)
		}
		fb.seal(lsn, num, s, lsn-1)
		off += copy(b[off:], fb.b)
		fb.release()
	}
	if err := os.WriteFile(filepath.Join(dir, liveName(num)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{SegmentSize: 16 << 10, noSpares: true}
	openClean(t, dir, opts, want)

	// And the log carries on after them, in the same segment (no frame
	// of its own lies past the end), over the stale frames.
	l := openLog(t, dir, opts)
	if s := l.segs[len(l.segs)-1]; s.num != num {
		t.Errorf("appends go to segment %d, want %d", s.num, num)
	}
	p := []byte("after")
	appendT(t, l, p)
	closeLog(t, l)
	openClean(t, dir, opts, append(want, p))
}

// A log of the first format (version 1 segments, no salt), left by a
// crash of folio before the salt, recovers as it did: records over
// several segments replay, the torn last one is a torn tail, and damage
// to a durable record is still ErrCorrupt. New records go to a new,
// salted segment, not after the torn tail in the unsalted one, and the
// log reopens with all of them.
func TestSaltOldFormatReplays(t *testing.T) {
	old := Options{SegmentSize: 16 << 10, NoCompression: true, noSpares: true, salt: noSalt}
	dir := t.TempDir()
	want := buildLog(t, dir, old, 40, 1000, true)
	l := openLog(t, dir, old)
	appendT(t, l, payload(99, 3000)) // torn below
	closeLog(t, l)
	live, _ := segFiles(t, dir)
	if len(live) < 3 {
		t.Fatalf("%d segments, want several", len(live))
	}
	for _, path := range live {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if v := binary.LittleEndian.Uint16(b[offSegVersion:]); v != segVersionUnsalted {
			t.Fatalf("%s: version %d, want the first format", path, v)
		}
	}
	last := live[len(live)-1]
	fr := frames(t, last)
	d := fr[len(fr)-1]
	patch(t, last, d.off+frameHeaderSize+1000, make([]byte, d.size-frameHeaderSize-1000))

	// Damage to a durable record with records after it: still damage.
	damaged := t.TempDir()
	for _, path := range live {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(damaged, filepath.Base(path)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flip(t, filepath.Join(damaged, filepath.Base(live[0])), frames(t, live[0])[2].off+frameHeaderSize+1)
	if _, err := Open(damaged, Options{SegmentSize: 16 << 10}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of an old log with a damaged durable record: %v, want ErrCorrupt", err)
	}

	opts := Options{SegmentSize: 16 << 10, NoCompression: true, noSpares: true}
	openClean(t, dir, opts, want)
	l = openLog(t, dir, opts)
	s := l.segs[len(l.segs)-1]
	if s.path == last || s.salt == 0 {
		t.Fatalf("appends go to %s, salt %#x: want a new salted segment", s.path, s.salt)
	}
	for i := range 30 { // into more segments
		p := payload(i, 1000)
		appendT(t, l, p)
		want = append(want, p)
	}
	closeLog(t, l)
	openClean(t, dir, opts, want)
}

// A segment header of a newer format (a version this package does not
// know, checksum whole) is refused with ErrVersion, read-only or not, and
// the directory is left as it was: read as a header not valid, the
// segment would have been recycled, records and all.
func TestSaltNewerVersionRefused(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 << 10, noSpares: true}
	buildLog(t, dir, opts, 10, 300, true)
	live, _ := segFiles(t, dir)
	b, err := os.ReadFile(live[0])
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(b[offSegVersion:], segVersion+1)
	binary.LittleEndian.PutUint32(b[offSegSum:], checksum(b[4:segHeaderSize]))
	if err := os.WriteFile(live[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	for _, ro := range []bool{true, false} {
		o := opts
		o.ReadOnly = ro
		l, err := Open(dir, o)
		if !errors.Is(err, ErrVersion) {
			if err == nil {
				l.Close()
			}
			t.Fatalf("read-only %v: Open of a newer format: %v, want ErrVersion", ro, err)
		}
		t.Log(err)
	}
	if after := dirState(t, dir); !equalState(before, after) {
		t.Fatalf("Open changed the directory of a log it refused:\n%v\n%v", before, after)
	}
}

func equalState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Every segment the log initialises gets a salt of its own: a new file,
// and a recycled one given a new number, and never 0.
func TestSaltPerSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 << 10, NoCompression: true, noSpares: true}
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	salts := map[uint64]uint32{}
	files := map[uint64]os.FileInfo{}
	for range 6 {
		for n := len(l.segs); len(l.segs) == n; {
			appendT(t, l, payload(1, 1000))
		}
		syncT(t, l)
		for _, s := range l.segs {
			if _, ok := salts[s.num]; !ok {
				fi, err := s.f.Stat()
				if err != nil {
					t.Fatal(err)
				}
				salts[s.num], files[s.num] = s.salt, fi
			}
		}
		if err := l.Truncate(l.segs[len(l.segs)-1].first - 1); err != nil {
			t.Fatal(err)
		}
	}
	reused := 0
	for num, salt := range salts {
		if salt == 0 {
			t.Errorf("segment %d has no salt", num)
		}
		for other, osalt := range salts {
			if other == num {
				continue
			}
			if os.SameFile(files[num], files[other]) {
				reused++
			}
			if salt == osalt {
				t.Errorf("segments %d and %d share salt %#x", num, other, salt)
			}
		}
	}
	if reused == 0 {
		t.Fatalf("no file was reused for another segment (%d segments)", len(salts))
	}
}

// saltOf gives back the salt of any frame header, which ownSalts uses to
// recover the salt of a segment whose header is damaged.
func TestSaltOf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b [frameHeaderSize]byte
	for range 1000 {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		salt := r.Uint32()
		binary.LittleEndian.PutUint32(b[offHeaderSum:], frameSum(b[:], salt))
		if got := saltOf(b[:]); got != salt {
			t.Fatalf("saltOf: %#x, want %#x", got, salt)
		}
	}
	tops := map[uint32]bool{}
	for _, v := range castagnoli {
		tops[v>>24] = true
	}
	if len(tops) != 256 {
		t.Fatalf("CRC-32C table top bytes: %d distinct, saltOf needs 256", len(tops))
	}
}
