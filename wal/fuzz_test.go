package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpus under testdata/fuzz from real logs")

// fuzzMax bounds payloads in the fuzz targets, so a forged compressed frame
// cannot ask for a gigabyte.
const fuzzMax = 1 << 20

// fuzzOpts keeps fuzzed segments small and recycles nothing.
var fuzzOpts = Options{SegmentSize: minSegmentSize, MaxFreeSegments: -1}

// The fuzz targets test what bytes do, not durability: syncing would make
// each run wait on the disk.
func noDataSync(*os.File) error { return nil }
func noDirSync(string) error    { return nil }

// reseal fixes both checksums of the frame at the start of b (as far as b
// holds it), the header's for salt, so the fuzzer gets past them to the
// fields and the payload.
func reseal(b []byte, salt uint32) []byte {
	b = bytes.Clone(b)
	if len(b) < frameHeaderSize {
		return b
	}
	if n := uint64(binary.LittleEndian.Uint32(b[offLength:])); frameHeaderSize+n <= uint64(len(b)) {
		binary.LittleEndian.PutUint32(b[offPayloadSum:], checksum(b[frameHeaderSize:frameHeaderSize+n]))
	}
	binary.LittleEndian.PutUint32(b[offHeaderSum:], frameSum(b, salt))
	return b
}

// FuzzDecodeRecord: the frame decoder returns an error or a record, never
// panics, and whatever it accepts re-encodes to the same bytes; for
// frames of the first format (version 1 segments: no salt).
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add(make([]byte, frameHeaderSize), true)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		fuzzDecode(t, b, 0, fix)
	})
}

// FuzzDecodeSaltedRecord is FuzzDecodeRecord for frames of a salted
// segment (version 2), salt 0 included: the decoder takes any.
func FuzzDecodeSaltedRecord(f *testing.F) {
	f.Add([]byte{}, uint32(1), false)
	f.Add(make([]byte, frameHeaderSize), uint32(0x9e3779b1), true)
	f.Fuzz(fuzzDecode)
}

// fuzzDecode is the body of the frame decoder's fuzz targets: b decoded
// as a frame of a segment whose salt is salt, resealed first if fix.
func fuzzDecode(t *testing.T, b []byte, salt uint32, fix bool) {
	if fix {
		b = reseal(b, salt)
	}
	h, p, err := decodeFrame(b, salt, nil, fuzzMax)
	if err != nil {
		return
	}
	// The salt is all that tells a segment's frames from others:
	// under any other, the header checksum fails; and the header gives
	// it back (ownSalts relies on that).
	if _, _, err := decodeFrame(b, salt^1, nil, fuzzMax); err == nil {
		t.Fatalf("frame checks under salts %#x and %#x", salt, salt^1)
	}
	if got := saltOf(b); got != salt {
		t.Fatalf("saltOf: %#x, want %#x", got, salt)
	}
	n := frameHeaderSize + int(h.length)
	re := make([]byte, n)
	putFrameHeader(re, h, salt)
	copy(re[frameHeaderSize:], b[frameHeaderSize:n])
	if !bytes.Equal(re, b[:n]) {
		t.Fatalf("accepted frame re-encodes differently:\n got %x\nwant %x", re, b[:n])
	}
	if len(p) > fuzzMax {
		t.Fatalf("payload of %d bytes over the limit %d", len(p), fuzzMax)
	}
	if h.flags&flagS2 == 0 && !bytes.Equal(p, b[frameHeaderSize:n]) {
		t.Fatal("raw payload is not the stored bytes")
	}
	// The payload, framed again by the writer, decodes to itself.
	fb := buildFrame(p, true)
	defer fb.release()
	fb.seal(h.lsn, uint64(h.segment), salt, h.lsn-1)
	if _, p2, err := decodeFrame(fb.b, salt, nil, fuzzMax); err != nil || !bytes.Equal(p2, p) {
		t.Fatalf("payload does not survive a new frame: %v", err)
	}
}

// FuzzReplaySegment: a log whose one segment file holds any bytes opens
// (or reports ErrCorrupt), replays consecutive records without error,
// appends after them, and reopens to the same records plus the new one.
func FuzzReplaySegment(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, minSegmentSize))
	f.Fuzz(func(t *testing.T, image []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, liveName(1)), image, 0o644); err != nil {
			t.Fatal(err)
		}
		checkRecovery(t, dir)
	})
}

// checkRecovery opens the log in dir read-only, then read-write: both must
// fail with ErrCorrupt or replay the same consecutive records; an append
// then follows them, and a reopen replays the same again.
func checkRecovery(t *testing.T, dir string) {
	{
		// Read-only first: it must see what a read-write Open sees, and
		// leave the bytes for it.
		ro := fuzzOpts
		ro.ReadOnly = true
		var roGot []record
		r, roErr := open(dir, ro, noDataSync, noDirSync)
		if roErr == nil {
			roGot = replayAll(t, r, 0)
			closeLog(t, r)
		}
		l, err := open(dir, fuzzOpts, noDataSync, noDirSync)
		if (err == nil) != (roErr == nil) {
			t.Fatalf("Open: %v; read-only: %v", err, roErr)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v", err)
			}
			checkHoleRecovery(t, dir)
			return
		}
		got := replayAll(t, l, 0)
		if len(got) != len(roGot) {
			t.Fatalf("read-only open replays %d records, read-write %d", len(roGot), len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].lsn != got[i-1].lsn+1 {
				t.Fatalf("replay jumps from lsn %d to %d", got[i-1].lsn, got[i].lsn)
			}
		}
		if len(got) > 0 && got[len(got)-1].lsn != l.LastLSN() {
			t.Fatalf("replay ends at lsn %d, LastLSN is %d", got[len(got)-1].lsn, l.LastLSN())
		}
		if lsn, err := l.Append([]byte("after")); err == nil {
			got = append(got, record{lsn, []byte("after")})
		} else if !errors.Is(err, errLSNsExhausted) {
			t.Fatalf("Append: %v", err)
		}
		closeLog(t, l)

		if l, err = open(dir, fuzzOpts, noDataSync, noDirSync); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer closeLog(t, l)
		again := replayAll(t, l, 0)
		if len(again) != len(got) {
			t.Fatalf("reopened log replays %d records, %d before", len(again), len(got))
		}
		for i := range got {
			if again[i].lsn != got[i].lsn || !bytes.Equal(again[i].payload, got[i].payload) {
				t.Fatalf("record %d differs after reopen: lsn %d, was %d", i, again[i].lsn, got[i].lsn)
			}
		}
	}
}

// checkHoleRecovery opens with Options.AllowHole a log in dir that Open
// refused: it fails with ErrCorrupt too, or reports a hole and replays
// whole records from past it to LastLSN, refuses a replay from before
// it, appends, and reopens to the same records.
func checkHoleRecovery(t *testing.T, dir string) {
	opts := fuzzOpts
	opts.AllowHole = true
	l, err := open(dir, opts, noDataSync, noDirSync)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with AllowHole: %v", err)
		}
		return
	}
	next, herr := l.Hole()
	if !errors.Is(herr, ErrCorrupt) {
		t.Fatalf("Open with AllowHole took a log Open refused, and reports no hole (%d, %v)", next, herr)
	}
	got := replayAll(t, l, next)
	for i, r := range got {
		if r.lsn != next+uint64(i) {
			t.Fatalf("replay from the hole: record %d has lsn %d, want %d", i, r.lsn, next+uint64(i))
		}
	}
	if len(got) > 0 && got[len(got)-1].lsn != l.LastLSN() {
		t.Fatalf("replay ends at lsn %d, LastLSN is %d", got[len(got)-1].lsn, l.LastLSN())
	}
	if err := l.Replay(next-1, func(uint64, []byte) error { return nil }); err != herr {
		t.Fatalf("Replay from before the hole: %v, want %v", err, herr)
	}
	if lsn, err := l.Append([]byte("after")); err == nil {
		got = append(got, record{lsn, []byte("after")})
	} else if !errors.Is(err, errLSNsExhausted) {
		t.Fatalf("Append: %v", err)
	}
	closeLog(t, l)
	if l, err = open(dir, opts, noDataSync, noDirSync); err != nil {
		t.Fatalf("reopen with AllowHole: %v", err)
	}
	defer closeLog(t, l)
	if n, _ := l.Hole(); n != next {
		t.Fatalf("reopened: hole before lsn %d, was %d", n, next)
	}
	again := replayAll(t, l, next)
	if len(again) != len(got) {
		t.Fatalf("reopened log replays %d records, %d before", len(again), len(got))
	}
	for i := range got {
		if again[i].lsn != got[i].lsn || !bytes.Equal(again[i].payload, got[i].payload) {
			t.Fatalf("record %d differs after reopen: lsn %d, was %d", i, again[i].lsn, got[i].lsn)
		}
	}
}

// FuzzRecoverSegments: as FuzzReplaySegment, over up to three segment
// files (numbers 1, 2 and 4: a gap, as Truncate and garbage leave), so
// that following the chain from one to the next, orphans included, is
// fuzzed too. The image is cut where its first two bytes say.
func FuzzRecoverSegments(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add(orphanSeed(func(uint64) uint32 { return 0 }))
	f.Add(orphanSeed(testSalt))
	f.Fuzz(func(t *testing.T, image []byte) {
		if len(image) < 2 {
			return
		}
		cut1, cut2 := int(image[0])*64, int(image[1])*64
		image = image[2:]
		parts := [][]byte{image[:min(cut1, len(image))]}
		image = image[len(parts[0]):]
		parts = append(parts, image[:min(cut2, len(image))], image[min(cut2, len(image)):])
		dir := t.TempDir()
		for i, num := range []uint64{1, 2, 4} {
			if len(parts[i]) == 0 && i > 0 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, liveName(num)), parts[i], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		checkRecovery(t, dir)
	})
}

// orphanSeed is FuzzRecoverSegments' image of the layout TestOrphanSegment
// builds: records 1-3 in segment 1, an empty orphan claiming LSN 2, then
// records 4-5; each segment num with salt(num), 0 for the first format.
func orphanSeed(salt func(num uint64) uint32) []byte {
	seg := func(num, first uint64, n int, payloads ...string) []byte {
		b := make([]byte, n)
		putSegHeader(b, num, first, salt(num))
		off := segHeaderSize
		for i, p := range payloads {
			fb := buildFrame([]byte(p), false)
			fb.seal(first+uint64(i), num, salt(num), first+uint64(i)-1)
			off += copy(b[off:], fb.b)
			fb.release()
		}
		return b
	}
	a := seg(1, 1, 64*4, "one", "two", "three")
	b := seg(2, 2, 64)
	c := seg(4, 4, 64*3, "four", "five")
	return append(append(append([]byte{byte(len(a) / 64), byte(len(b) / 64)}, a...), b...), c...)
}

// TestGenerateFuzzCorpus rewrites the committed seed corpus from real logs
// when run with -gencorpus. Plain go test runs the committed files as
// regression tests of the fuzz targets.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz")
	}
	// Each log twice: in the first format (version 1, no salt; the seeds
	// from before the salt, which must still reach the decoder) and in
	// the salted one ("-salted").
	segs := map[string][]byte{}
	build := func(name string, syncEvery int, n int, damage func(b []byte, fr []frameAt) []byte) {
		build1(t, segs, name, func(uint64) uint32 { return 0 }, syncEvery, n, damage)
		build1(t, segs, name+"-salted", testSalt, syncEvery, n, damage)
	}
	build("synced", 1, 6, nil)
	build("unsynced", 0, 6, nil)
	build("sync-every-2", 2, 6, nil)
	build("torn-tail", 1, 6, func(b []byte, fr []frameAt) []byte { return b[:fr[5].off+40] })
	build("corrupt-middle", 1, 6, func(b []byte, fr []frameAt) []byte { b[fr[2].off+frameHeaderSize] ^= 1; return b })
	build("zeroed-middle-unsynced", 0, 6, func(b []byte, fr []frameAt) []byte {
		clear(b[fr[2].off : fr[2].off+fr[2].size])
		return b
	})
	build("empty", 1, 0, nil)

	frameSeeds := func(salt uint32) map[string][]byte {
		frames := map[string][]byte{}
		for name, p := range map[string][]byte{"raw": payload(1, 300), "s2": payload(0, 300), "empty": nil} {
			fb := buildFrame(p, true)
			fb.seal(9, 2, salt, 4)
			frames[name] = bytes.Clone(fb.b)
			fb.release()
		}
		frames["torn"] = frames["s2"][:frameHeaderSize+10]
		frames["bad-crc"] = bytes.Clone(frames["raw"])
		frames["bad-crc"][frameHeaderSize+5] ^= 0xff
		return frames
	}

	write := func(target, name string, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, l := range lines {
			body += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range segs {
		write("FuzzReplaySegment", name, fmt.Sprintf("[]byte(%q)", b))
	}
	for name, b := range frameSeeds(0) {
		write("FuzzDecodeRecord", name, fmt.Sprintf("[]byte(%q)", b), "bool(false)")
	}
	write("FuzzDecodeRecord", "reseal-flags", fmt.Sprintf("[]byte(%q)", sealed([]byte("x"), 4, nil)), "bool(true)")
	salt := testSalt(2)
	for name, b := range frameSeeds(salt) {
		write("FuzzDecodeSaltedRecord", name, fmt.Sprintf("[]byte(%q)", b), fmt.Sprintf("uint32(%d)", salt), "bool(false)")
	}
	write("FuzzDecodeSaltedRecord", "reseal-flags", fmt.Sprintf("[]byte(%q)", sealed([]byte("x"), 4, nil)),
		fmt.Sprintf("uint32(%d)", salt), "bool(true)")
}

// build1 puts in segs[name] the image of a one-segment log of n records,
// its segment's salt from salt, synced every syncEvery records (0:
// never), damaged by damage if not nil, cut after its last nonzero
// byte.
func build1(t *testing.T, segs map[string][]byte, name string, salt func(uint64) uint32,
	syncEvery, n int, damage func(b []byte, fr []frameAt) []byte) {
	dir := t.TempDir()
	opts := fuzzOpts
	opts.salt = salt
	l := openLog(t, dir, opts)
	for i := range n {
		appendT(t, l, payload(i, 40+i*90))
		if syncEvery > 0 && i%syncEvery == 0 {
			syncT(t, l)
		}
	}
	closeLog(t, l)
	live, _ := segFiles(t, dir)
	fr := frames(t, live[0])
	b, err := os.ReadFile(live[0])
	if err != nil {
		t.Fatal(err)
	}
	if damage != nil {
		b = damage(b, fr)
	}
	// Preallocated zeros add nothing but minimization time; frames end
	// at multiples of 8, so cutting at one keeps the last whole.
	m := (len(bytes.TrimRight(b, "\x00")) + frameAlign - 1) &^ (frameAlign - 1)
	segs[name] = b[:min(max(m, segHeaderSize), len(b))]
}

// FuzzS2Produces: s2Produces never counts less than s2.Decode writes for a
// block it accepts, so decodePayload's check turns away no block that
// decodes; and it neither panics nor hangs on any bytes.
func FuzzS2Produces(f *testing.F) {
	f.Add(s2.Encode(nil, payload(0, 300)))
	f.Add(s2.Encode(nil, bytes.Repeat([]byte{0}, 70_000)))
	f.Add(s2.EncodeBest(nil, payload(2, 5000)))
	f.Add(hostileS2(MaxRecordSize, 0, 'x', 7<<2|0x01, 0, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := s2.DecodedLen(b)
		if err != nil || n > fuzzMax {
			s2Produces(b, fuzzMax) // must still return
			return
		}
		got := s2Produces(b, n)
		if p, err := s2.Decode(nil, b); err == nil && got != len(p) {
			t.Fatalf("Decode writes %d bytes, s2Produces counts %d", len(p), got)
		}
	})
}

// TestFuzzSeedsReach: the committed seeds get past the checksums to what
// they were made to test, in both formats: each whole log image replays
// its records, each whole frame decodes, under its format's salt.
func TestFuzzSeedsReach(t *testing.T) {
	seeds := func(target string) map[string][]string {
		dir := filepath.Join("testdata", "fuzz", target)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
		}
		return out
	}
	bytesArg := func(line string) []byte {
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return []byte(s)
	}
	salted := 0
	for name, args := range seeds("FuzzReplaySegment") {
		if strings.HasPrefix(name, "empty") || strings.HasPrefix(name, "corrupt") {
			continue
		}
		image := bytesArg(args[0])
		if _, _, salt, err := parseSegHeader(image); err != nil {
			t.Fatalf("%s: %v", name, err)
		} else if (salt != 0) != strings.HasSuffix(name, "-salted") {
			t.Fatalf("%s: salt %#x", name, salt)
		} else if salt != 0 {
			salted++
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, liveName(1)), image, 0o644); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, dir, Options{ReadOnly: true, SegmentSize: fuzzOpts.SegmentSize})
		if n := len(replayAll(t, l, 0)); n < 2 {
			t.Errorf("%s: %d records replay", name, n)
		}
		closeLog(t, l)
	}
	if salted == 0 {
		t.Error("no salted log image among the seeds")
	}
	for _, target := range []string{"FuzzDecodeRecord", "FuzzDecodeSaltedRecord"} {
		for _, name := range []string{"raw", "s2", "empty"} {
			args := seeds(target)[name]
			salt := uint64(0)
			if target == "FuzzDecodeSaltedRecord" {
				var err error
				if salt, err = strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(args[1], "uint32("), ")"), 10, 32); err != nil || salt == 0 {
					t.Fatalf("%s/%s: salt %q", target, name, args[1])
				}
			}
			if _, _, err := decodeFrame(bytesArg(args[0]), uint32(salt), nil, fuzzMax); err != nil {
				t.Errorf("%s/%s: %v", target, name, err)
			}
		}
	}
}
