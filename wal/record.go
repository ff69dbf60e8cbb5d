package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
)

// Wire format: the frame header (see the package doc).
const (
	frameHeaderSize = 32
	frameAlign      = 8

	offHeaderSum  = 0
	offPayloadSum = 4
	offLength     = 8
	offFlags      = 12
	offReserved   = 14
	offLSN        = 16
	offSegment    = 24
	offUnsynced   = 28
)

// Wire format: frame flags.
const (
	flagS2     uint16 = 1 << 0
	flagsKnown        = flagS2
)

// MaxRecordSize is the largest payload Append takes. It is not wire format:
// the length field could say more, but a record is read into memory whole,
// and a bound keeps a damaged length (or a compressed block that claims a
// huge size) from asking for unbounded memory.
const MaxRecordSize = 1 << 30

const (
	// compressMin is the smallest payload worth trying to compress: below
	// it the s2 block overhead eats the gain.
	compressMin = 128
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// frameSum is the header checksum of the frame header b: the CRC-32C of
// bytes [4, 32) with the segment's salt as the initial value, as if the
// bytes followed others that leave the register there. Salt 0 is the
// plain CRC-32C, version 1's. For these 28 bytes the sum is the unsalted
// one xor a linear bijection of the salt: a header sealed under one salt
// fails under every other, and one written without knowing the salt
// checks with chance 2^-32 whatever else it gets right.
//
// Only the header checksum is salted, not the payload's: Append takes
// that one before its lock, before it knows which segment (and salt) the
// frame goes to, and the header checksum covers it anyway.
func frameSum(b []byte, salt uint32) uint32 {
	return crc32.Update(salt, castagnoli, b[4:frameHeaderSize])
}

// frameHeader is a decoded frame header.
type frameHeader struct {
	payloadSum uint32
	length     uint32 // stored payload bytes
	flags      uint16
	lsn        uint64
	segment    uint32
	unsynced   uint32
}

// size is the frame's size on disk, padding included.
func (h frameHeader) size() int64 { return frameSize(int64(h.length)) }

// frameSize is the on-disk size of a frame with n stored payload bytes.
func frameSize(n int64) int64 {
	return (frameHeaderSize + n + frameAlign - 1) &^ (frameAlign - 1)
}

// durableClaim is the highest LSN the writer knew durable when it wrote
// this frame (0: none). A saturated unsynced field claims nothing: reading
// it as a distance would claim more than the writer knew.
func (h frameHeader) durableClaim() uint64 {
	if h.unsynced == math.MaxUint32 || uint64(h.unsynced) >= h.lsn {
		return 0
	}
	return h.lsn - uint64(h.unsynced)
}

// Reasons a frame is not whole. They are descriptions for CorruptError, not
// sentinels callers see.
var (
	errShortFrame  = errors.New("frame cut short")
	errHeaderSum   = errors.New("frame header checksum mismatch")
	errFrameFields = errors.New("frame header has unknown flags or nonzero reserved bits")
	errPayloadSum  = errors.New("payload checksum mismatch")
	errPayloadSize = errors.New("payload size over the limit")
	errDecompress  = errors.New("compressed payload does not decode")
)

// saltOf returns the salt under which the frame header b checks: the
// initial register that takes frameSum over b's bytes to its stored sum.
// Any 32 bytes check under one salt, so the answer means something only
// for a frame otherwise shown whole (ownSalts). It runs the CRC
// backwards: each step's table entry is the one whose top byte the
// register has (CRC-32C's top bytes are all distinct, crcTop).
func saltOf(b []byte) uint32 {
	c := ^binary.LittleEndian.Uint32(b[offHeaderSum:])
	for i := frameHeaderSize - 1; i >= 4; i-- {
		k := crcTop[c>>24]
		c = (c^castagnoli[k])<<8 | uint32(k^b[i])
	}
	return ^c
}

// crcTop maps the top byte of each castagnoli table entry to its index.
var crcTop = func() (t [256]byte) {
	for k, v := range castagnoli {
		t[v>>24] = byte(k)
	}
	return t
}()

// putFrameHeader writes h into b[:frameHeaderSize], header checksum last,
// salted with its segment's salt.
func putFrameHeader(b []byte, h frameHeader, salt uint32) {
	binary.LittleEndian.PutUint32(b[offPayloadSum:], h.payloadSum)
	binary.LittleEndian.PutUint32(b[offLength:], h.length)
	binary.LittleEndian.PutUint16(b[offFlags:], h.flags)
	binary.LittleEndian.PutUint16(b[offReserved:], 0)
	binary.LittleEndian.PutUint64(b[offLSN:], h.lsn)
	binary.LittleEndian.PutUint32(b[offSegment:], h.segment)
	binary.LittleEndian.PutUint32(b[offUnsynced:], h.unsynced)
	binary.LittleEndian.PutUint32(b[offHeaderSum:], frameSum(b, salt))
}

// parseFrameHeader decodes and checks the header at the start of b, of a
// frame in a segment whose salt is salt. It trusts nothing but the header
// checksum; whether the length fits the segment, the lsn is the one
// expected and the segment is right is for the caller to check.
func parseFrameHeader(b []byte, salt uint32) (frameHeader, error) {
	if len(b) < frameHeaderSize {
		return frameHeader{}, errShortFrame
	}
	if binary.LittleEndian.Uint32(b[offHeaderSum:]) != frameSum(b, salt) {
		return frameHeader{}, errHeaderSum
	}
	h := frameHeader{
		payloadSum: binary.LittleEndian.Uint32(b[offPayloadSum:]),
		length:     binary.LittleEndian.Uint32(b[offLength:]),
		flags:      binary.LittleEndian.Uint16(b[offFlags:]),
		lsn:        binary.LittleEndian.Uint64(b[offLSN:]),
		segment:    binary.LittleEndian.Uint32(b[offSegment:]),
		unsynced:   binary.LittleEndian.Uint32(b[offUnsynced:]),
	}
	// A writer never produces these; rejecting them keeps "accepted" equal
	// to "re-encodes to the same bytes", which the fuzz target checks.
	if h.flags&^flagsKnown != 0 || binary.LittleEndian.Uint16(b[offReserved:]) != 0 ||
		h.lsn == 0 || h.unsynced == 0 {
		return frameHeader{}, errFrameFields
	}
	return h, nil
}

// decodePayload checks the stored payload of h and returns the record's
// payload: stored itself, or stored decompressed into buf (grown if
// needed). Neither may exceed max bytes.
func decodePayload(h frameHeader, stored, buf []byte, max int) ([]byte, error) {
	if len(stored) != int(h.length) {
		return nil, errShortFrame
	}
	if checksum(stored) != h.payloadSum {
		return nil, errPayloadSum
	}
	if h.flags&flagS2 == 0 {
		if len(stored) > max {
			return nil, errPayloadSize
		}
		return stored, nil
	}
	n, err := s2.DecodedLen(stored)
	if err != nil {
		return nil, errDecompress
	}
	if n > max {
		return nil, errPayloadSize
	}
	// The length header is only a claim, and the frame's checksums say
	// nothing about whether a writer made it: check it against what the
	// block's ops can produce before allocating n bytes for it.
	if s2Produces(stored, n) < n {
		return nil, errDecompress
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	p, err := s2.Decode(buf[:n], stored)
	if err != nil || len(p) != n {
		return nil, errDecompress
	}
	return p, nil
}

// s2Produces returns how many bytes s2.Decode would write for the block b
// before it stops, without writing them: it reads the tags and stops at
// the first op Decode rejects (cut short, a literal past the end, an
// offset before the start), or once the count reaches want. Decode
// succeeds only when its ops write exactly the block's length header, so
// a header claiming more than this is a lie, and decodePayload rejects it
// before allocating. The count may exceed what a failing Decode writes,
// never what a succeeding one does: it is a bound, not a verdict.
//
// Rejected: a bound from the compression ratio alone. s2's repeat op (a
// copy with offset 0 and a 3-byte length) turns 5 bytes into 16,842,755:
// 3.4 million to one, so a 48-byte frame could still ask for 16 MiB, and
// a few hundred bytes for MaxRecordSize. Reading the tags costs a fraction
// of decoding, and bounds the allocation by what the ops can write. What
// remains is a block that really decodes to a lot, up to the caller's max
// (MaxRecordSize for Replay): a writer could have made it.
//
// The tags are s2's block format (klauspost/compress: s2/README.md, the
// snappy format plus repeat offsets; s2Decode in s2/decode_other.go),
// which the frame's flag fixes, so they cannot change under the log.
// FuzzS2Produces holds this to s2.Decode.
func s2Produces(b []byte, want int) int {
	_, s := binary.Uvarint(b)
	if s <= 0 {
		return 0
	}
	d, offset := 0, 0
	for s < len(b) && d < want {
		tag := b[s]
		var length int
		switch tag & 0x03 {
		case 0x00: // literal: length-1 in the tag, or in the 1-4 bytes after it
			x, k := uint64(tag>>2), 0
			if x >= 60 {
				k = int(x) - 59
				if s+1+k > len(b) {
					return d
				}
				x = 0
				for i := k; i >= 1; i-- {
					x = x<<8 | uint64(b[s+i])
				}
			}
			s += 1 + k
			if x+1 > uint64(len(b)-s) {
				return d
			}
			s += int(x) + 1
			d += int(x) + 1
			continue
		case 0x01: // copy, 1-byte offset; offset 0 repeats the last one
			if s+2 > len(b) {
				return d
			}
			code := int(tag >> 2 & 7)
			length = code + 4
			o := int(tag&0xe0)<<3 | int(b[s+1])
			s += 2
			if o != 0 {
				offset = o
				break
			}
			if code >= 5 { // a long repeat: its length is in the next 1-3 bytes
				k := code - 4
				if s+k > len(b) {
					return d
				}
				v := 0
				for i := k - 1; i >= 0; i-- {
					v = v<<8 | int(b[s+i])
				}
				length = v + [...]int{8, 1<<8 + 4, 1<<16 + 4}[k-1]
				s += k
			}
		case 0x02: // copy, 2-byte offset
			if s+3 > len(b) {
				return d
			}
			length, offset = 1+int(tag>>2), int(binary.LittleEndian.Uint16(b[s+1:]))
			s += 3
		case 0x03: // copy, 4-byte offset
			if s+5 > len(b) {
				return d
			}
			length, offset = 1+int(tag>>2), int(binary.LittleEndian.Uint32(b[s+1:]))
			s += 5
		}
		if offset <= 0 || d < offset {
			return d
		}
		d += length
	}
	return d
}

// decodeFrame decodes the frame at the start of b, of a segment whose salt
// is salt: its header, and its payload, decompressed into buf when it was
// compressed (else a subslice of b). It is the whole of what a frame's
// bytes alone can say; the fuzz targets drive it.
func decodeFrame(b []byte, salt uint32, buf []byte, max int) (frameHeader, []byte, error) {
	h, err := parseFrameHeader(b, salt)
	if err != nil {
		return h, nil, err
	}
	if uint64(len(b)) < frameHeaderSize+uint64(h.length) {
		return h, nil, errShortFrame
	}
	p, err := decodePayload(h, b[frameHeaderSize:frameHeaderSize+int(h.length)], buf, max)
	return h, p, err
}

// frameBuf holds one frame being built by Append. Pooled: Append builds the
// frame (and compresses) outside the log's lock, and a fresh buffer per
// record would be an allocation per commit.
//
// A large frame (over maxPooledFrame) is not copied into a buffer: stored
// raw, it is written from the caller's parts as they are (writeFrame), its
// checksum taken over them in turn; compressed, it gets a buffer of its
// own, about the size it compresses to (compressLarge). Before, a
// 16 MiB record cost its frame's 16 MiB, and a record built from pages
// (package tx's page images) one more copy to join them.
type frameBuf struct {
	buf []byte                // pooled storage for small frames
	b   []byte                // the whole frame, padding included; nil: written from parts
	hdr [frameHeaderSize]byte // the header of a frame written from parts
	h   frameHeader
}

// maxPooledFrame bounds the frames built in a pooled buffer; larger ones
// are large frames (frameBuf). maxPooledBuf bounds what goes back into
// framePool (a small frame built from several parts with compression needs
// room for both), so one big record does not pin its buffer for the life
// of the process.
const (
	maxPooledFrame = 1 << 20
	maxPooledBuf   = 2*maxPooledFrame + 64<<10
)

var framePool = sync.Pool{New: func() any { return new(frameBuf) }}

// compressGate decides whether Append tries s2 on a payload. Trying costs
// about 30 µs per 16 KiB on random data (page images of random values),
// a tenth of a commit; so after a payload that did not compress, the next
// ones skip the attempt for a stretch that doubles on every failure, up
// to 64 records, and one success ends it. Incompressible data then pays
// for one attempt in 64; data that compresses pays for every attempt and
// gets every saving. Concurrent appenders race on it harmlessly: it only
// picks which records to try.
type compressGate struct {
	skip   atomic.Int32 // records to store raw before trying again
	streak atomic.Int32 // the stretch after the last failure
	tries  atomic.Int64 // attempts made (for tests)
}

const maxCompressSkip = 64

func (g *compressGate) try() bool {
	if g.skip.Load() > 0 {
		g.skip.Add(-1)
		return false
	}
	g.tries.Add(1)
	return true
}

func (g *compressGate) result(compressed bool) {
	if compressed {
		g.streak.Store(0)
		return
	}
	s := min(max(2*g.streak.Load(), 1), maxCompressSkip)
	g.streak.Store(s)
	g.skip.Store(s)
}

// buildFrame is buildFrameParts for one payload.
func buildFrame(payload []byte, compress bool) *frameBuf {
	parts := [1][]byte{payload}
	return buildFrameParts(parts[:], len(payload), compress)
}

// buildFrameParts lays out the payload, the concatenation of parts (n
// bytes), compressed with s2 when compress is set and that saves at least
// a quarter, behind room for the header, pads it, and fills every header
// field but those Append knows only under its lock (lsn, segment,
// unsynced). A large frame stored raw is left in parts (fb.b nil): the
// caller writes it with writeFrame, and parts must not change before.
// REQUIRES: n <= MaxRecordSize.
func buildFrameParts(parts [][]byte, n int, compress bool) *frameBuf {
	fb := framePool.Get().(*frameBuf)
	try := compress && n >= compressMin
	if frameSize(int64(n)) > maxPooledFrame {
		fb.b = nil
		if try {
			if b, stored := compressLarge(parts, n); b != nil {
				fb.b = b
				fb.h = frameHeader{payloadSum: checksum(b[frameHeaderSize : frameHeaderSize+stored]), length: uint32(stored), flags: flagS2}
				return fb
			}
		}
		sum := uint32(0)
		for _, p := range parts {
			sum = crc32.Update(sum, castagnoli, p)
		}
		fb.h = frameHeader{payloadSum: sum, length: uint32(n)}
		return fb
	}
	need := frameHeaderSize + n + frameAlign
	var payload []byte // the payload whole, for s2
	if len(parts) == 1 {
		payload = parts[0]
	}
	src := 0 // where a payload of several parts is joined for s2, in fb.buf
	if try {
		need = max(need, frameHeaderSize+s2.MaxEncodedLen(n)+frameAlign)
		if len(parts) > 1 {
			src, need = need, need+n
		}
	}
	if cap(fb.buf) < need {
		fb.buf = make([]byte, need)
	}
	b := fb.buf[:cap(fb.buf)]
	if try && len(parts) > 1 {
		payload = b[src:src]
		for _, p := range parts {
			payload = append(payload, p...)
		}
		b = b[:src:src] // s2 must not write over its source
	}
	stored := b[frameHeaderSize:frameHeaderSize]
	flags := uint16(0)
	if try {
		// s2 rather than zstd: it compresses at memory speed and decodes
		// faster still on replay. A record must shrink by a quarter to be
		// stored compressed, and only that counts as success for the
		// backoff (compressGate): a 20 KiB record costs 20-30 µs to
		// compress, while writing 3-5 KiB less to the log saves a few µs,
		// so a record that shrinks less (page images of random values:
		// the element headers) is cheaper raw.
		c := s2.Encode(b[frameHeaderSize:], payload)
		if len(c) <= n-n/4 {
			stored, flags = c, flagS2
		}
	}
	if flags == 0 {
		for _, p := range parts {
			stored = append(stored, p...)
		}
	}
	size := int(frameSize(int64(len(stored))))
	clear(b[frameHeaderSize+len(stored) : size])
	fb.b = b[:size]
	fb.h = frameHeader{payloadSum: checksum(stored), length: uint32(len(stored)), flags: flags}
	return fb
}

// s2Chunk is how much of a large payload compressLarge hands s2 at a time:
// the first chunk decides whether the rest is tried, and the buffers for
// one (chunkPool) are all a failed try costs.
const s2Chunk = 512 << 10

// chunkBufs are compressLarge's scratch: a chunk joined from several parts,
// and the first chunk compressed.
type chunkBufs struct{ join, enc []byte }

var chunkPool = sync.Pool{New: func() any {
	return &chunkBufs{join: make([]byte, 0, s2Chunk), enc: make([]byte, s2.MaxEncodedLen(s2Chunk))}
}}

// compressLarge compresses a large payload (the concatenation of parts, n
// bytes) into a frame of its own, returned with the stored length, or
// returns nil if that does not save a quarter. It stops at the first
// chunk if that one does not, and as soon as the output passes three
// quarters of n, so a payload that does not compress costs one chunk's
// work and no buffer of its size (Rejected: s2.Encode of the whole, which
// wants a buffer of n bytes before it knows, and compressed 16 MiB of a
// random value to store it raw.)
//
// The block is s2's block format, one length header then ops (the frame
// flag's format, unchanged): each chunk is encoded as a block, and its ops
// follow the last chunk's without its own length header. A block's ops
// decode from the state a block begins with (no earlier offset: s2's
// decoder rejects a repeat before the first copy), and copy only from the
// chunk's own output, which in the whole lies at the same distance back;
// so the ops of consecutive chunks decode to the chunks joined. Each
// chunk's ops lose matches before its start: a ratio a little worse than
// s2 on the whole (TestLargeValueMemoryLogged's 16 MiB of text: a record
// of 4,256,392 bytes in the log, against 4,253,936 compressed whole).
// TestCompressChunksRoundTrip and FuzzCompressChunks hold it to
// s2.Decode.
func compressLarge(parts [][]byte, n int) ([]byte, int) {
	return compressChunks(parts, n, s2Chunk)
}

// compressChunks is compressLarge in chunks of size bytes, at most
// s2Chunk; tests use small ones.
func compressChunks(parts [][]byte, n, size int) ([]byte, int) {
	cb := chunkPool.Get().(*chunkBufs)
	defer chunkPool.Put(cb)
	ch := chunker{parts: parts, join: cb.join, size: size}
	first := ch.next()
	if len(first) == 0 {
		return nil, 0 // no payload: nothing to save
	}
	probe := s2.Encode(cb.enc, first)
	h := uvarintLen(len(first))
	if len(probe)-h > len(first)-len(first)/4 {
		return nil, 0
	}
	// The buffer is sized for the whole at the first chunk's ratio, with
	// a quarter more to spare; if that proves short, for the most a
	// frame worth storing compressed takes. INVARIANT: b has room past
	// pos for a chunk's worst case and the padding, so s2.Encode writes
	// into b.
	maxStored := n - n/4
	room := s2.MaxEncodedLen(size) + frameAlign
	est := (len(probe) - h) * (n / len(first)) / 4 * 5
	b := make([]byte, frameHeaderSize+min(est, maxStored)+room)
	pos := frameHeaderSize + binary.PutUvarint(b[frameHeaderSize:], uint64(n))
	pos += copy(b[pos:], probe[h:])
	for pos-frameHeaderSize <= maxStored {
		c := ch.next()
		if c == nil {
			stored := pos - frameHeaderSize
			end := int(frameSize(int64(stored)))
			clear(b[pos:end])
			return b[:end], stored
		}
		if len(b)-pos < room {
			b = append(make([]byte, 0, frameHeaderSize+maxStored+room), b[:pos]...)
			b = b[:cap(b)]
		}
		// The chunk's length header lands on the last bytes of the ops
		// before it: saved, and put back over it.
		h := uvarintLen(len(c))
		var save [binary.MaxVarintLen64]byte
		copy(save[:h], b[pos-h:pos])
		enc := s2.Encode(b[pos-h:], c)
		copy(b[pos-h:pos], save[:h])
		pos += len(enc) - h
	}
	return nil, 0
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// chunker cuts the concatenation of parts into chunks of size bytes (the
// last may be shorter): a subslice of a part where the chunk lies in one,
// else joined in join (cap at least size).
type chunker struct {
	parts [][]byte
	size  int
	i     int // the part the next chunk starts in
	off   int // where in it
	join  []byte
}

// next returns the next chunk, or nil at the end. It is valid until the
// next call.
func (c *chunker) next() []byte {
	for c.i < len(c.parts) && c.off == len(c.parts[c.i]) {
		c.i, c.off = c.i+1, 0
	}
	if c.i == len(c.parts) {
		return nil
	}
	if p := c.parts[c.i][c.off:]; len(p) >= c.size || c.i == len(c.parts)-1 {
		p = p[:min(len(p), c.size)]
		c.off += len(p)
		return p
	}
	b := c.join[:0]
	for len(b) < c.size && c.i < len(c.parts) {
		p := c.parts[c.i][c.off:]
		k := min(len(p), c.size-len(b))
		b = append(b, p[:k]...)
		c.off += k
		if c.off == len(c.parts[c.i]) {
			c.i, c.off = c.i+1, 0
		}
	}
	return b
}

// size is the frame's size on disk.
func (fb *frameBuf) size() int64 { return fb.h.size() }

// seal fills in what Append decides under its lock and writes the header,
// salted for the segment it goes in.
func (fb *frameBuf) seal(lsn uint64, segment uint64, salt uint32, durable uint64) {
	fb.h.lsn = lsn
	fb.h.segment = uint32(segment)
	fb.h.unsynced = uint32(min(lsn-durable, math.MaxUint32))
	if fb.b != nil {
		putFrameHeader(fb.b, fb.h, salt)
	} else {
		putFrameHeader(fb.hdr[:], fb.h, salt)
	}
}

// writeFrame writes the sealed frame at off in f: fb.b, or the header,
// parts (the payload buildFrameParts left there) and padding. Parts of
// writeDirect bytes or more are written as they are, the rest joined in
// fb.buf first, so a record of many small parts (page images and their
// headers) takes few writes.
func (fb *frameBuf) writeFrame(f io.WriterAt, off int64, parts [][]byte) error {
	if fb.b != nil {
		_, err := f.WriteAt(fb.b, off)
		return err
	}
	const writeDirect = 32 << 10
	if cap(fb.buf) < 2*writeDirect {
		fb.buf = make([]byte, 2*writeDirect)
	}
	buf := append(fb.buf[:0], fb.hdr[:]...)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := f.WriteAt(buf, off)
		off += int64(len(buf))
		buf = buf[:0]
		return err
	}
	for _, p := range parts {
		if len(p) >= writeDirect || len(buf)+len(p) > cap(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(p) < writeDirect {
			buf = append(buf, p...)
			continue
		}
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		off += int64(len(p))
	}
	pad := int(fb.size() - frameHeaderSize - int64(fb.h.length))
	if len(buf)+pad > cap(buf) {
		if err := flush(); err != nil {
			return err
		}
	}
	var zero [frameAlign]byte
	buf = append(buf, zero[:pad]...)
	return flush()
}

func (fb *frameBuf) release() {
	fb.b = nil
	if cap(fb.buf) > maxPooledBuf {
		fb.buf = nil
	}
	framePool.Put(fb)
}
