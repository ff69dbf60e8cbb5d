package wal

import (
	"bytes"
	"errors"
	"testing"
)

// forgedFrame is a whole frame of segment seg (whose salt is salt)
// holding lsn, claiming lsn-1 durable, with payload p: bytes a record's
// payload can carry as they are (a database value, logged uncompressed).
// With the right salt it is what only a forger who read the segment's
// header could build; with salt 0, what anyone can (version 1's).
func forgedFrame(seg uint64, salt uint32, lsn uint64, p []byte) []byte {
	fb := buildFrame(p, false)
	defer fb.release()
	fb.seal(lsn, seg, salt, lsn-1)
	return bytes.Clone(fb.b)
}

// forgedPayload is the payload of the forged frames.
var forgedPayload = []byte("a record nobody appended")

// baitPayload is a payload holding forged frames of segments 1 to 7 at
// lsn, each sealed with salt(segment), each at an 8-byte boundary of it:
// a frame's payload starts at one, so each lies where recovery looks for
// frame headers.
func baitPayload(lsn uint64, salt func(num uint64) uint32) []byte {
	var b []byte
	for seg := uint64(1); seg < 8; seg++ {
		b = append(b, forgedFrame(seg, salt(seg), lsn, forgedPayload)...)
	}
	return b
}

// knownSalts are the options of the tests that forge frames knowing each
// segment's salt (testSalt): what remains against a forger who read the
// log's headers, the guards from before the salt.
func knownSalts(o Options) Options {
	o.salt = testSalt
	return o
}

// checkNoForged opens dir with AllowHole: Open may fail with ErrCorrupt,
// but a log it opens must not hold a forged record, nor end at its lsn.
// It returns the log, or nil.
func checkNoForged(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	opts.AllowHole = true
	l, err := Open(dir, opts)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
		return nil
	}
	if last := l.LastLSN(); last >= 1<<40 {
		t.Errorf("LastLSN %d: the log took a forged frame for a record", last)
	}
	from, _ := l.Hole()
	if err := l.Replay(from, func(lsn uint64, p []byte) error {
		if bytes.Equal(p, forgedPayload) {
			t.Errorf("Replay returned a forged record as lsn %d", lsn)
		}
		return nil
	}); err != nil {
		t.Fatalf("Replay(%d): %v", from, err)
	}
	return l
}

// A recycled segment keeps its earlier life's bytes past the frames of
// its new one, payloads included. Forged frames in an old record's
// payload, of the number the file gets when it is reused, made Open with
// AllowHole pass over the end of a cleanly closed log as a hole and
// resume at one of them: Replay returned a record nobody appended, and
// LastLSN jumped to 2^40.
func TestHoleForgedInRecycled(t *testing.T) {
	opts := knownSalts(Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true})
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	// Segment 1: filler first, so that the bait lies far into the file,
	// past what its next life writes.
	for range 40 {
		appendT(t, l, payload(1, 1000))
	}
	appendT(t, l, baitPayload(1<<40, testSalt))
	for len(l.segs) == 1 {
		appendT(t, l, payload(1, 1000))
	}
	syncT(t, l)
	if err := l.Truncate(l.segs[1].first - 1); err != nil {
		t.Fatal(err)
	}
	// Segment 2 fills; the next one is segment 1's file.
	for n := len(l.segs); len(l.segs) == n; {
		appendT(t, l, payload(1, 1000))
	}
	if s := l.segs[len(l.segs)-1]; s.cold || s.size != opts.SegmentSize {
		t.Fatalf("the last segment is not a recycled one")
	}
	last := appendT(t, l, payload(3, 100))
	closeLog(t, l)

	if l := checkNoForged(t, dir, opts); l != nil {
		if got := l.LastLSN(); got != last {
			t.Errorf("LastLSN %d, want %d", got, last)
		}
		closeLog(t, l)
	}
}

// Damage to a durable record whose payload carries forged frames: Open
// with AllowHole resumed at the first forged one (it claims the damaged
// record durable), ended the log there, and took the real records after
// it for a torn tail, recycling the segments that held them.
func TestHoleBaitInDamagedRecord(t *testing.T) {
	opts := knownSalts(Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true})
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	var want [][]byte
	add := func(p []byte) {
		appendT(t, l, p)
		syncT(t, l)
		want = append(want, p)
	}
	for i := range 5 {
		add(payload(i, 500))
	}
	add(append(payload(1, 64), baitPayload(1<<40, testSalt)...)) // lsn 6
	for i := 0; len(l.segs) < 3; i++ {
		add(payload(i, 1500))
	}
	closeLog(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	flip(t, live[0], fr[5].off+frameHeaderSize+1) // lsn 6's payload, before the bait

	l = checkNoForged(t, dir, opts)
	if l == nil {
		t.Fatal("Open refused a log with one damaged record and whole records after it")
	}
	defer closeLog(t, l)
	if live2, _ := segFiles(t, dir); len(live2) < len(live) {
		t.Errorf("Open left %d live segments of %d: it recycled records", len(live2), len(live))
	}
	next, herr := l.Hole()
	if herr == nil || next != 7 {
		t.Fatalf("Hole() = %d, %v; want 7 and the damage at lsn 6", next, herr)
	}
	checkRecords(t, replayAll(t, l, next), next, want[next-1:])
}

// A crash mid-append of a record carrying forged frames: its header and
// the bait reached the disk, the rest of its payload did not. That is a
// torn tail, or damage if Open cannot tell; never a hole to resume in at
// a forged frame. Here the forger knows the salts (knownSalts); without
// them it is always a torn tail (TestSaltBaitInTornRecord).
func TestHoleBaitInTornRecord(t *testing.T) {
	opts := knownSalts(Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true})
	dir := t.TempDir()
	want := buildLog(t, dir, opts, 5, 500, true)
	l := openLog(t, dir, opts)
	bait := append(baitPayload(1<<40, testSalt), payload(1, 2000)...)
	appendT(t, l, bait)
	closeLog(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	d := fr[len(fr)-1]
	tornAt := d.off + frameHeaderSize + int64(len(baitPayload(1<<40, testSalt))) + 100
	patch(t, live[0], tornAt, make([]byte, d.off+d.size-tornAt))

	if l := checkNoForged(t, dir, opts); l != nil {
		if next, herr := l.Hole(); herr != nil {
			t.Errorf("a torn tail reported as a hole before lsn %d: %v", next, herr)
		}
		checkRecords(t, replayAll(t, l, 1), 1, want)
		closeLog(t, l)
	}
}

// Which damage AllowHole passes over: payloads of consecutive frames
// whose headers are whole (one hole, resumed after the last), not a
// damaged frame header, whose length no longer says where the next
// frame lies (what a scan finds past it may be a payload's bytes).
func TestHoleShapes(t *testing.T) {
	opts := Options{SegmentSize: 64 << 10, noSpares: true, AllowHole: true}
	t.Run("two payloads", func(t *testing.T) {
		dir := t.TempDir()
		want := buildLog(t, dir, opts, 20, 1000, true)
		live, _ := segFiles(t, dir)
		fr := frames(t, live[0])
		flip(t, live[0], fr[6].off+frameHeaderSize+3) // lsn 7
		flip(t, live[0], fr[7].off+frameHeaderSize+3) // lsn 8
		l := openLog(t, dir, opts)
		defer closeLog(t, l)
		next, herr := l.Hole()
		var ce *CorruptError
		if next != 9 || !errors.As(herr, &ce) || ce.LSN != 7 {
			t.Fatalf("Hole() = %d, %v; want 9 and the damage at lsn 7", next, herr)
		}
		checkRecords(t, replayAll(t, l, 9), 9, want[8:])
	})
	t.Run("frame header", func(t *testing.T) {
		dir := t.TempDir()
		buildLog(t, dir, opts, 20, 1000, true)
		live, _ := segFiles(t, dir)
		fr := frames(t, live[0])
		flip(t, live[0], fr[6].off+offLength)
		if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with a damaged frame header: %v, want ErrCorrupt", err)
		}
	})
}

// A recycled segment's stale bytes past its new frames held forged
// frames of its new number (a stored value's bytes, in an old payload),
// claiming lsn 2^40 and the record expected at the end durable: Open
// took them for proof of damage (recovery case 2), and a cleanly closed
// log failed every Open with ErrCorrupt. A frame counts as proof now
// only if the records before it fit between it and the stop point; one
// claiming an lsn that fits still counts (scanTail's NB).
func TestHoleRecycledBaitStrictOpen(t *testing.T) {
	opts := knownSalts(Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true})
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	for range 40 {
		appendT(t, l, payload(1, 1000))
	}
	appendT(t, l, baitPayload(1<<40, testSalt))
	for len(l.segs) == 1 {
		appendT(t, l, payload(1, 1000))
	}
	syncT(t, l)
	if err := l.Truncate(l.segs[1].first - 1); err != nil {
		t.Fatal(err)
	}
	for n := len(l.segs); len(l.segs) == n; {
		appendT(t, l, payload(1, 1000))
	}
	last := appendT(t, l, payload(3, 100))
	closeLog(t, l)
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open after a clean Close: %v", err)
	}
	defer closeLog(t, l)
	if got := l.LastLSN(); got != last {
		t.Fatalf("LastLSN %d, want %d", got, last)
	}
}

// The bound on proof is tight for the smallest frames: records with
// empty payloads (a bare header each), one header damaged, the next
// frame just after it claiming it durable, is still damage.
func TestHoleEvidenceBoundTight(t *testing.T) {
	opts := Options{SegmentSize: 64 << 10, noSpares: true}
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	for range 10 {
		appendT(t, l, nil)
		syncT(t, l)
	}
	closeLog(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	if fr[5].size != frameHeaderSize {
		t.Fatalf("a frame of an empty record takes %d bytes", fr[5].size)
	}
	flip(t, live[0], fr[5].off+offLSN)
	if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt (lsn 7, just after, claims lsn 6 durable)", err)
	}
}
