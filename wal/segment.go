package wal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Wire format: the segment header (see the package doc).
const (
	segHeaderSize = 32
	segMagic      = 0x4c415766 // "fWAL" read as a little-endian uint32

	// segVersion is the version this package writes: a salt in the
	// header seeds every frame's header checksum. segVersionUnsalted is
	// the first format, read still: its frames' header checksums are
	// unseeded (salt 0), so a log left by an older folio recovers.
	segVersion         = 2
	segVersionUnsalted = 1

	offSegSum     = 0
	offSegMagic   = 4
	offSegVersion = 8
	offSegSalt    = 12
	offSegNumber  = 16
	offSegFirst   = 24
)

// File names. A live segment is "<number>.wal"; a recycled one waiting for
// reuse is "<number>.free", keeping the number it last had so that names
// never collide. Not wire format in the byte sense, but Open depends on them.
const (
	liveSuffix = ".wal"
	freeSuffix = ".free"
)

// maxSegmentNum bounds the numbers in names: a log numbers its segments
// past the highest it finds, and a file named near 2^64 (by hand) would
// make the count wrap to 0, a name Open ignores, with records in it.
// Numbers above it are not segments; no log counts that far.
const maxSegmentNum = 1 << 62

func liveName(num uint64) string { return fmt.Sprintf("%016x%s", num, liveSuffix) }
func freeName(num uint64) string { return fmt.Sprintf("%016x%s", num, freeSuffix) }

// parseName reports the number in a segment file's name and whether the
// file is a free (recycled) one; ok is false for any other file, and for
// upper-case hex, which the log never writes: "…0A.wal" is not segment 10
// (liveName(10) would name another file, or the same one where names fold
// case).
func parseName(name string) (num uint64, free, ok bool) {
	base, found := strings.CutSuffix(name, liveSuffix)
	if !found {
		base, found = strings.CutSuffix(name, freeSuffix)
		free = true
	}
	if !found || len(base) != 16 || strings.ContainsAny(base, "ABCDEF") {
		return 0, false, false
	}
	num, err := strconv.ParseUint(base, 16, 64)
	if err != nil || num == 0 || num > maxSegmentNum {
		return 0, false, false
	}
	return num, free, true
}

var (
	errSegHeader = errors.New("segment header not valid")
	errNoRoom    = errors.New("no room for another frame")
)

// putSegHeader writes the header of segment num, whose first record is
// first and whose frames are sealed with salt. Salt 0 writes a version 1
// header, the unsalted format (tests build old logs with it); the log
// never draws 0 (newSalt).
func putSegHeader(b []byte, num, first uint64, salt uint32) {
	clear(b[:segHeaderSize])
	binary.LittleEndian.PutUint32(b[offSegMagic:], segMagic)
	if salt == 0 {
		binary.LittleEndian.PutUint16(b[offSegVersion:], segVersionUnsalted)
	} else {
		binary.LittleEndian.PutUint16(b[offSegVersion:], segVersion)
		binary.LittleEndian.PutUint32(b[offSegSalt:], salt)
	}
	binary.LittleEndian.PutUint64(b[offSegNumber:], num)
	binary.LittleEndian.PutUint64(b[offSegFirst:], first)
	binary.LittleEndian.PutUint32(b[offSegSum:], checksum(b[4:segHeaderSize]))
}

// parseSegHeader returns the number, first LSN and salt a segment header
// holds; salt is 0 for a version 1 header. A header whose checksum and
// magic hold but whose version is newer than segVersion is ErrVersion,
// not errSegHeader: read as garbage, the segment would be recycled as
// never used, records of a newer folio with it. A later version must
// keep the checksum, magic and version where they are, for that.
func parseSegHeader(b []byte) (num, first uint64, salt uint32, err error) {
	if len(b) < segHeaderSize ||
		binary.LittleEndian.Uint32(b[offSegSum:]) != checksum(b[4:segHeaderSize]) ||
		binary.LittleEndian.Uint32(b[offSegMagic:]) != segMagic {
		return 0, 0, 0, errSegHeader
	}
	zero := b[10:16] // version 1: bytes 10 to 16; version 2: 10 and 11
	switch v := binary.LittleEndian.Uint16(b[offSegVersion:]); {
	case v == segVersion:
		salt = binary.LittleEndian.Uint32(b[offSegSalt:])
		if salt == 0 {
			return 0, 0, 0, errSegHeader // never written: it would be version 1
		}
		zero = b[10:offSegSalt]
	case v > segVersion:
		return 0, 0, 0, ErrVersion
	case v != segVersionUnsalted:
		return 0, 0, 0, errSegHeader
	}
	for _, c := range zero {
		if c != 0 {
			return 0, 0, 0, errSegHeader
		}
	}
	num = binary.LittleEndian.Uint64(b[offSegNumber:])
	first = binary.LittleEndian.Uint64(b[offSegFirst:])
	if num == 0 || first == 0 {
		return 0, 0, 0, errSegHeader
	}
	return num, first, salt, nil
}

// newSalt draws a segment's salt: from crypto/rand, anew for every
// segment the log initialises (created, or a recycled file given a new
// number), never 0 (version 1's "no salt").
//
// Why random, and from crypto/rand: the salt's worth is that whoever
// chooses a record's bytes (a database value, stored in the payload as
// it is) cannot know it, so a frame forged in them fails its header
// checksum but for a 2^-32 chance. A counter, the segment number or the
// clock could be guessed; a generator seeded at Open would do as well,
// but one read of the system's source per segment costs nothing next
// to the fdatasync and directory sync that make the segment. 32 bits are
// all a CRC-32 can use: however long a seed, the checksum depends on it
// only through the 32-bit register it leaves (see frameSum).
func newSalt() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:]) // NB: never fails (crypto/rand, Go 1.24 on)
		if s := binary.LittleEndian.Uint32(b[:]); s != 0 {
			return s
		}
	}
}

// segment is one live segment file.
type segment struct {
	num   uint64
	first uint64 // LSN of its first record (the header's "first")
	salt  uint32 // seeds its frames' header checksums; 0: version 1, none
	path  string
	f     *os.File
	size  int64 // file size; frames must end within it
	cold  bool  // its blocks were fallocated and never written (spare.go)

	// renamed: the header is a valid one for another segment number
	// (first is 0). Recovery reads it as a free segment's activation of
	// which the disk kept the new header but not the new name.
	renamed bool

	// Guarded by Log.mu.
	end     int64 // offset just past its last frame
	dirty   bool  // written since the last sync leader took its snapshot
	syncing bool  // in the snapshot a sync leader is now syncing

	handedOver bool // cold, and left for a warm spare before it was full

	// resume is where Open took the log up again after a hole
	// (Options.AllowHole), and resumeLSN the LSN of the frame there;
	// 0 if it did not in this segment. Set by Open only.
	resume    int64
	resumeLSN uint64
}

// readWindow is how much a segReader reads at a time: large enough that
// replay is a stream of big sequential reads, small enough not to matter.
const readWindow = 256 << 10

// segReader reads a segment through a window, so a frame header and its
// payload, and their neighbours, come from one read.
type segReader struct {
	r     io.ReaderAt
	size  int64
	buf   []byte
	start int64 // file offset of buf[0]
	n     int   // valid bytes in buf
	read  int64 // bytes read in all (tests)
	errAt int64 // offset of the last read that failed
}

// readError is err, from a read of the segment file at path through sr,
// with the file and the offset.
func readError(sr *segReader, path string, err error) error {
	return fmt.Errorf("folio/wal: read %s offset %d: %w", path, sr.errAt, err)
}

func (sr *segReader) reset(r io.ReaderAt, size int64) {
	sr.r, sr.size, sr.start, sr.n = r, size, 0, 0
}

// bytes returns the n bytes at off. They stay valid until the next call.
// REQUIRES: 0 <= off, 0 <= n, off+n <= sr.size.
func (sr *segReader) bytes(off int64, n int) ([]byte, error) {
	if off >= sr.start && off+int64(n) <= sr.start+int64(sr.n) {
		i := off - sr.start
		return sr.buf[i : i+int64(n)], nil
	}
	want := int(min(max(int64(n), readWindow), sr.size-off))
	if cap(sr.buf) < want {
		sr.buf = make([]byte, max(want, readWindow))
	}
	m, err := sr.r.ReadAt(sr.buf[:want], off)
	sr.read += int64(m)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		sr.n, sr.errAt = 0, off
		return nil, err
	}
	sr.start, sr.n = off, m
	return sr.buf[:n], nil
}

// checksum is the CRC-32C of the n bytes at off, read a window at a time.
// REQUIRES: 0 <= off, 0 <= n, off+n <= sr.size.
func (sr *segReader) checksum(off, n int64) (uint32, error) {
	var sum uint32
	for n > 0 {
		k := min(n, readWindow)
		b, err := sr.bytes(off, int(k))
		if err != nil {
			return 0, err
		}
		sum = crc32.Update(sum, castagnoli, b)
		off, n = off+k, n-k
	}
	return sum, nil
}

// stop says where and why reading a segment's frames stopped.
type stop struct {
	off  int64
	next uint64 // the LSN expected at off
	why  error  // nil when the scan reached its limit
	// claim is the highest durable claim of the whole frames read.
	claim uint64
}

// scanFrames walks the whole frames of segment num (salt salt) from off, expecting
// LSNs next, next+1, ..., and calls fn (if not nil) with each frame's
// offset, header and stored payload, which stay valid until fn returns. It
// stops at limit, or at the first frame that is not whole, and says where.
// The error is a read error or fn's; the stop then names the frame.
func scanFrames(sr *segReader, num uint64, salt uint32, off, limit int64, next uint64,
	fn func(off int64, h frameHeader, stored []byte) error) (st stop, _ error) {
	var claim uint64
	defer func() { st.claim = claim }()
	for off < limit {
		if off+frameHeaderSize > limit {
			return stop{off: off, next: next, why: errNoRoom}, nil
		}
		b, err := sr.bytes(off, frameHeaderSize)
		if err != nil {
			return stop{off: off, next: next}, err
		}
		h, err := parseFrameHeader(b, salt)
		switch {
		case err != nil:
			return stop{off: off, next: next, why: err}, nil
		case h.segment != uint32(num):
			return stop{off: off, next: next, why: fmt.Errorf("frame belongs to segment %#x (stale)", h.segment)}, nil
		case h.lsn != next:
			return stop{off: off, next: next, why: fmt.Errorf("frame holds lsn %d", h.lsn)}, nil
		case h.length > MaxRecordSize:
			// Never written (Append refuses more), and reading it would
			// take as much memory.
			return stop{off: off, next: next, why: errPayloadSize}, nil
		case h.size() > limit-off:
			return stop{off: off, next: next, why: fmt.Errorf("frame of %d bytes overruns the segment", h.size())}, nil
		}
		if fn == nil {
			// Recovery checks the payload a window at a time: a hostile
			// header claiming MaxRecordSize in a sparse file would
			// otherwise cost that much memory at Open.
			sum, err := sr.checksum(off+frameHeaderSize, int64(h.length))
			if err != nil {
				return stop{off: off, next: next}, err
			}
			if sum != h.payloadSum {
				return stop{off: off, next: next, why: errPayloadSum}, nil
			}
		} else {
			stored, err := sr.bytes(off+frameHeaderSize, int(h.length))
			if err != nil {
				return stop{off: off, next: next}, err
			}
			if checksum(stored) != h.payloadSum {
				return stop{off: off, next: next, why: errPayloadSum}, nil
			}
			if err := fn(off, h, stored); err != nil {
				return stop{off: off, next: next}, err
			}
		}
		claim = max(claim, h.durableClaim())
		off += h.size()
		next++
	}
	return stop{off: off, next: next}, nil
}

// tailReport is what scanTail found past a stop point.
type tailReport struct {
	own      bool  // some whole header of this segment's own lies there
	evidence int64 // offset of a header claiming the stop LSN durable; -1 if none
	claim    frameHeader
}

// scanTail looks at every frame-aligned offset in [off, sr.size) of
// segment num for a frame header that is whole by itself (its payload is
// not needed) under the segment's salt and belongs to num. It reports whether there is any, and the
// first one whose durable claim is at least next: proof that the record
// expected at the stop point had been made durable. Zeros and stale frames
// fail the segment compare, so the scan runs at memory speed; holes (a
// file extended by truncate, many GiB of them) read as zeros and are
// skipped without reading.
//
// With room >= 0, a header at offset x counts as proof only if the
// records from next to its lsn fit before it: room bytes elsewhere (in
// earlier segments), plus x-off here, at least a bare frame header each.
// Every real one does (frames lie one after another, in LSN order); a
// header that is a payload's bytes (a stored value, in a torn record or
// in a recycled segment's stale bytes) and claims an lsn far ahead does
// not, and the scan goes on. NB: only a mitigation: such bytes naming an
// lsn that fits still count, if they check under the salt (built by
// whoever read the segment's header, or in a version 1 segment, or by a
// 2^-32 chance).
func scanTail(sr *segReader, num uint64, salt uint32, off int64, next uint64, room int64) (tailReport, error) {
	rep := tailReport{evidence: -1}
	base := off
	want := uint32(num)
	f, _ := sr.r.(*os.File)
	for off+frameHeaderSize <= sr.size {
		if f != nil {
			// A header may begin in the block before the data: a file
			// system may keep a block of zeros as a hole.
			off = max(off, (nextData(f, off, sr.size)-frameHeaderSize)&^(frameAlign-1))
			if off+frameHeaderSize > sr.size {
				break
			}
		}
		b, err := sr.bytes(off, int(min(readWindow, sr.size-off)))
		if err != nil {
			return rep, err
		}
		i := 0
		for ; i+frameHeaderSize <= len(b); i += frameAlign {
			if binary.LittleEndian.Uint32(b[i+offSegment:]) != want {
				continue
			}
			h, err := parseFrameHeader(b[i:i+frameHeaderSize], salt)
			if err != nil || h.segment != want {
				continue
			}
			rep.own = true
			x := off + int64(i)
			if h.durableClaim() >= next && (room < 0 || h.lsn-next <= uint64(room+x-base)/frameHeaderSize) {
				rep.evidence, rep.claim = x, h
				return rep, nil
			}
		}
		off += int64(i)
	}
	return rep, nil
}

// SyncDir makes the directory's entries durable: a created, removed or
// renamed entry (a segment, or a database file written aside and renamed
// into place) must not vanish, or come back under its old name, after a
// crash. The one directory sync of folio's packages and its CLI.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // NB: directories cannot be synced there; renames are durable on their own
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
