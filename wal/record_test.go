package wal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
)

// TestFrameWireFormat pins the frame bytes: if it fails, the wire format
// changed, and logs written before the change no longer read back.
func TestFrameWireFormat(t *testing.T) {
	const rest = "" +
		"4cbb719a" + // payload checksum: CRC-32C("hello") = 0x9a71bb4c
		"05000000" + // length
		"0000" + "0000" + // flags, zero
		"0700000000000000" + // lsn
		"03000000" + // segment
		"02000000" + // unsynced: 7 - 5
		"68656c6c6f" + "000000" // payload, padding
	for _, tc := range []struct {
		salt uint32
		sum  string // the header checksum
	}{
		{0, "d470449f"},          // version 1: plain CRC-32C
		{0x01020304, "85c5e08b"}, // version 2: CRC-32C with the salt as the initial value
	} {
		fb := buildFrame([]byte("hello"), true)
		fb.seal(7, 3, tc.salt, 5)
		got := hex.EncodeToString(fb.b)
		fb.release()
		if want := tc.sum + rest; got != want {
			t.Fatalf("salt %#x: frame bytes\n got %s\nwant %s", tc.salt, got, want)
		}
	}
}

func TestSegmentHeaderWireFormat(t *testing.T) {
	for _, tc := range []struct {
		salt uint32
		want string
	}{
		{0, "" + // version 1, as folio before the salt wrote it
			"eddd95a9" + // checksum
			"6657414c" + // "fWAL"
			"0100" + "000000000000" + // version, zero
			"3412000000000000" + // number
			"6300000000000000"}, // first
		{0x01020304, "" +
			"ab493130" + // checksum
			"6657414c" + // "fWAL"
			"0200" + "0000" + "04030201" + // version, zero, salt
			"3412000000000000" + // number
			"6300000000000000"}, // first
	} {
		b := make([]byte, segHeaderSize)
		putSegHeader(b, 0x1234, 99, tc.salt)
		if got := hex.EncodeToString(b); got != tc.want {
			t.Fatalf("segment header\n got %s\nwant %s", got, tc.want)
		}
		num, first, salt, err := parseSegHeader(b)
		if err != nil || num != 0x1234 || first != 99 || salt != tc.salt {
			t.Fatalf("parseSegHeader: %d, %d, %#x, %v", num, first, salt, err)
		}
		for i := range segHeaderSize {
			c := bytes.Clone(b)
			c[i] ^= 0x40
			if _, _, _, err := parseSegHeader(c); err == nil {
				t.Errorf("salt %#x: segment header with byte %d changed still parses", tc.salt, i)
			}
		}
	}
}

// sealed returns a frame for payload with the given stored bytes and flags,
// both checksums right, so that only the field under test is wrong.
func sealed(stored []byte, flags uint16, mutate func(b []byte)) []byte {
	b := make([]byte, frameSize(int64(len(stored))))
	copy(b[frameHeaderSize:], stored)
	putFrameHeader(b, frameHeader{payloadSum: checksum(stored), length: uint32(len(stored)), flags: flags, lsn: 1, segment: 1, unsynced: 1}, 0)
	if mutate != nil {
		mutate(b)
		binary.LittleEndian.PutUint32(b, frameSum(b, 0))
	}
	return b
}

func TestDecodeFrame(t *testing.T) {
	text := bytes.Repeat([]byte("abcdefgh"), 100)
	good := sealed(text, 0, nil)
	compressed := sealed(s2.Encode(nil, text), flagS2, nil)
	for _, tc := range []struct {
		name string
		b    []byte
		max  int
		want error
	}{
		{"raw", good, MaxRecordSize, nil},
		{"compressed", compressed, MaxRecordSize, nil},
		{"empty input", nil, MaxRecordSize, errShortFrame},
		{"short header", good[:31], MaxRecordSize, errShortFrame},
		{"short payload", good[:frameHeaderSize+len(text)-1], MaxRecordSize, errShortFrame},
		{"header checksum", func() []byte { b := bytes.Clone(good); b[offLSN]++; return b }(), MaxRecordSize, errHeaderSum},
		{"payload checksum", func() []byte { b := bytes.Clone(good); b[frameHeaderSize]++; return b }(), MaxRecordSize, errPayloadSum},
		{"unknown flag", sealed(text, 0, func(b []byte) { b[offFlags] = 2 }), MaxRecordSize, errFrameFields},
		{"reserved", sealed(text, 0, func(b []byte) { b[offReserved+1] = 1 }), MaxRecordSize, errFrameFields},
		{"lsn 0", sealed(text, 0, func(b []byte) { clear(b[offLSN : offLSN+8]) }), MaxRecordSize, errFrameFields},
		{"unsynced 0", sealed(text, 0, func(b []byte) { clear(b[offUnsynced : offUnsynced+4]) }), MaxRecordSize, errFrameFields},
		{"not s2", sealed(text, flagS2, nil), MaxRecordSize, errDecompress},
		{"raw over max", good, len(text) - 1, errPayloadSize},
		{"decoded over max", compressed, len(text) - 1, errPayloadSize},
		{"s2 size lies", sealed(append(binary.AppendUvarint(nil, 1<<20), s2.Encode(nil, text)[2:]...), flagS2, nil), MaxRecordSize, errDecompress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p, err := decodeFrame(tc.b, 0, nil, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("decodeFrame: %v, want %v", err, tc.want)
			}
			if err == nil && !bytes.Equal(p, text) {
				t.Fatal("payload differs")
			}
		})
	}
}

func TestDurableClaim(t *testing.T) {
	for _, tc := range []struct {
		lsn      uint64
		unsynced uint32
		want     uint64
	}{{10, 1, 9}, {10, 10, 0}, {10, 11, 0}, {1 << 40, 1<<32 - 2, 1<<40 - (1<<32 - 2)}, {1 << 40, 1<<32 - 1, 0}} {
		if got := (frameHeader{lsn: tc.lsn, unsynced: tc.unsynced}).durableClaim(); got != tc.want {
			t.Errorf("lsn %d unsynced %d: claim %d, want %d", tc.lsn, tc.unsynced, got, tc.want)
		}
	}
	fb := buildFrame(nil, false)
	defer fb.release()
	fb.seal(1<<40, 1, 0, 0) // saturates: claims nothing, never too much
	if fb.h.unsynced != 1<<32-1 || fb.h.durableClaim() > 0 {
		t.Errorf("saturated frame: unsynced %d, claim %d", fb.h.unsynced, fb.h.durableClaim())
	}
}

// TestBuildFrameAllocs: building a frame, compressed or not, reuses pooled
// buffers. CI runs it without -race (its allocation step).
func TestBuildFrameAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates, and sync.Pool drops items under it; run without -race")
	}
	for _, p := range [][]byte{payload(0, 4096), payload(1, 4096)} {
		allocs := testing.AllocsPerRun(100, func() {
			fb := buildFrame(p, true)
			fb.seal(1, 1, 0, 0)
			fb.release()
		})
		if allocs > 0 {
			t.Errorf("buildFrame: %v allocs per run", allocs)
		}
	}
}

// hostileS2 is a stored s2 block whose length header claims n bytes while
// its ops (body) write far fewer.
func hostileS2(n uint64, body ...byte) []byte {
	return append(binary.AppendUvarint(nil, n), body...)
}

// TestDecodeHostileS2Length: a frame with both checksums right whose s2
// length header claims far more than its ops can write is corruption, found
// before the claimed bytes are allocated, in decodeFrame and in Replay.
func TestDecodeHostileS2Length(t *testing.T) {
	repeat := []byte{7<<2 | 0x01, 0, 0xff, 0xff, 0xff} // 16,842,755 bytes, offset 0
	for _, tc := range []struct {
		name   string
		stored []byte
	}{
		{"zeros", hostileS2(MaxRecordSize, 0, 0, 0, 0)},
		{"no ops", hostileS2(MaxRecordSize)},
		{"literal past the end", hostileS2(MaxRecordSize, 63<<2, 0xff, 0xff, 0xff, 0xff, 'x')},
		{"repeat before any offset", hostileS2(MaxRecordSize, append(append([]byte{}, repeat...), repeat...)...)},
		{"copy before the start", hostileS2(1<<20, 0x00, 'x', 63<<2|0x02, 2, 0)},
		{"one literal, long repeats", hostileS2(MaxRecordSize, append([]byte{0x00, 'x'}, repeat...)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := sealed(tc.stored, flagS2, nil)
			var err error
			allocs := testing.AllocsPerRun(10, func() { _, _, err = decodeFrame(b, 0, nil, MaxRecordSize) })
			if !errors.Is(err, errDecompress) {
				t.Fatalf("decodeFrame: %v, want %v", err, errDecompress)
			}
			if allocs > 0 {
				t.Fatalf("decodeFrame allocated %v times for a %d-byte frame", allocs, len(b))
			}
		})
	}

	// Through Replay, as the reviewer found it: a segment whose one frame
	// passes recovery's checksums must not cost a gigabyte to reject.
	dir := t.TempDir()
	img := make([]byte, minSegmentSize)
	putSegHeader(img, 1, 1, 0)
	stored := hostileS2(MaxRecordSize, 0, 0, 0, 0)
	copy(img[segHeaderSize+frameHeaderSize:], stored)
	putFrameHeader(img[segHeaderSize:], frameHeader{payloadSum: checksum(stored), length: uint32(len(stored)), flags: flagS2, lsn: 1, segment: 1, unsynced: 1}, 0)
	if err := os.WriteFile(filepath.Join(dir, liveName(1)), img, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := open(dir, fuzzOpts, noDataSync, noDirSync)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog(t, l)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = l.Replay(1, func(uint64, []byte) error { return nil })
	runtime.ReadMemStats(&after)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.LSN != 1 || ce.Offset != segHeaderSize {
		t.Fatalf("Replay of a frame lying about its size: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("Replay allocated %d bytes to reject a %d-byte frame", n, frameSize(int64(len(stored))))
	}
}

// TestS2ProducesRealBlocks: for blocks the writer makes, from literals to
// long runs that need s2's longest repeat op, s2Produces counts exactly
// what Decode writes, so no genuine record is turned away.
func TestS2ProducesRealBlocks(t *testing.T) {
	for _, p := range [][]byte{
		nil, []byte("x"), payload(0, 300), payload(1, 300), payload(0, 70_000),
		bytes.Repeat([]byte{0}, 300), bytes.Repeat([]byte{0}, 70_000),
		bytes.Repeat([]byte("ab"), 9<<20), // 18 MiB: needs more than one longest repeat
	} {
		for _, enc := range []func(dst, src []byte) []byte{s2.Encode, s2.EncodeBetter, s2.EncodeBest} {
			c := enc(nil, p)
			if got := s2Produces(c, len(p)); got != len(p) {
				t.Fatalf("%d-byte payload (%d compressed): s2Produces %d", len(p), len(c), got)
			}
			if _, got, err := decodeFrame(sealed(c, flagS2, nil), 0, nil, MaxRecordSize); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%d-byte payload: decodeFrame: %v", len(p), err)
			}
		}
	}
}
