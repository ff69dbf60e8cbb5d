package dumpfmt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
)

// Wire format: see the package doc. Never change these.
const (
	binaryMagic   = "FOLIODMP"
	binaryVersion = 1

	kindHeader = 'H'
	kindBucket = 'B'
	kindData   = 'D'
	kindEnd    = 'E'

	bucketHasSequence = 1
)

// dataFrameSize is the payload size at which the writer closes a data
// frame: large enough that framing costs nothing, small enough that a
// reader's buffer stays small. Not wire format: readers take any size.
const dataFrameSize = 128 << 10

// maxPayload bounds a frame's length as read: the largest pair folio can
// hold (a key of 32 KiB and a value of 2 GiB), with room for its lengths.
const maxPayload = 1<<31 + 1<<16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// binaryEncoder writes the binary format.
type binaryEncoder struct {
	w       *bufio.Writer
	data    []byte // the data frame being filled
	buckets uint64
	pairs   uint64
	scratch []byte
}

func newBinaryEncoder(w *bufio.Writer, pageSize int) (*binaryEncoder, error) {
	e := &binaryEncoder{w: w}
	if _, err := w.WriteString(binaryMagic); err != nil {
		return nil, err
	}
	p := binary.AppendUvarint(nil, binaryVersion)
	p = binary.AppendUvarint(p, uint64(max(pageSize, 0)))
	if err := e.frame(kindHeader, p); err != nil {
		return nil, err
	}
	return e, nil
}

// frame writes one frame whose payload is the concatenation of parts.
func (e *binaryEncoder) frame(kind byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	hn := 1 + binary.PutUvarint(hdr[1:], uint64(n))
	crc := crc32.Update(0, castagnoli, hdr[:hn])
	if _, err := e.w.Write(hdr[:hn]); err != nil {
		return err
	}
	for _, p := range parts {
		crc = crc32.Update(crc, castagnoli, p)
		if _, err := e.w.Write(p); err != nil {
			return err
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc)
	_, err := e.w.Write(sum[:])
	return err
}

func (e *binaryEncoder) flushData() error {
	if len(e.data) == 0 {
		return nil
	}
	err := e.frame(kindData, e.data)
	e.data = e.data[:0]
	return err
}

func (e *binaryEncoder) beginBucket(b Bucket) error {
	if err := e.flushData(); err != nil {
		return err
	}
	var flags uint64
	if b.HasSequence {
		flags |= bucketHasSequence
	}
	p := binary.AppendUvarint(e.scratch[:0], flags)
	p = binary.AppendUvarint(p, b.Sequence)
	p = binary.AppendUvarint(p, uint64(len(b.Path)))
	for _, name := range b.Path {
		p = binary.AppendUvarint(p, uint64(len(name)))
		p = append(p, name...)
	}
	e.scratch = p
	e.buckets++
	return e.frame(kindBucket, p)
}

func (e *binaryEncoder) put(k, v []byte) error {
	e.pairs++
	if len(k)+len(v) >= dataFrameSize {
		// A large pair goes out in a frame of its own, without copying.
		if err := e.flushData(); err != nil {
			return err
		}
		p := binary.AppendUvarint(e.scratch[:0], uint64(len(k)))
		p = append(p, k...)
		p = binary.AppendUvarint(p, uint64(len(v)))
		e.scratch = p
		return e.frame(kindData, p, v)
	}
	e.data = binary.AppendUvarint(e.data, uint64(len(k)))
	e.data = append(e.data, k...)
	e.data = binary.AppendUvarint(e.data, uint64(len(v)))
	e.data = append(e.data, v...)
	if len(e.data) >= dataFrameSize {
		return e.flushData()
	}
	return nil
}

// abort writes nothing more: without its end frame the dump reads as cut
// short.
func (e *binaryEncoder) abort() error { return nil }

func (e *binaryEncoder) finish() error {
	if err := e.flushData(); err != nil {
		return err
	}
	p := binary.AppendUvarint(nil, e.buckets)
	p = binary.AppendUvarint(p, e.pairs)
	return e.frame(kindEnd, p)
}

// binaryDecoder reads the binary format.
type binaryDecoder struct {
	br         *bufio.Reader
	compressed bool
	off        int64 // bytes consumed
	pageSize   int

	buf        []byte // the current frame's payload
	data       []byte // the unread pairs of the current data frame
	dataOff    int64  // the stream offset of data[0]
	itemOff    int64  // the offset of the last item returned
	inBucket   bool
	ended      bool
	buckets    uint64
	pairs      uint64
	frameStart int64
}

// newBinaryDecoder reads the magic and the header frame.
func newBinaryDecoder(br *bufio.Reader, compressed bool) (*binaryDecoder, error) {
	d := &binaryDecoder{br: br, compressed: compressed}
	var magic [len(binaryMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:]) != binaryMagic {
		return nil, d.errorf(0, "no binary dump magic")
	}
	d.off = int64(len(magic))
	kind, p, err := d.readFrame()
	if err != nil {
		return nil, err
	}
	if kind != kindHeader {
		return nil, d.errorf(d.frameStart, "want a header frame, found kind %q", kind)
	}
	version, n := binary.Uvarint(p)
	if n <= 0 || version != binaryVersion {
		return nil, d.errorf(d.frameStart, "unsupported binary dump version %d (this folio reads version %d)", version, binaryVersion)
	}
	ps, m := binary.Uvarint(p[n:])
	if m <= 0 || n+m != len(p) || ps > 1<<30 {
		return nil, d.errorf(d.frameStart, "bad header frame")
	}
	d.pageSize = int(ps)
	return d, nil
}

func (d *binaryDecoder) errorf(off int64, format string, args ...any) error {
	return &SyntaxError{Format: Binary, Offset: off, Compressed: d.compressed, Msg: fmt.Sprintf(format, args...)}
}

// cut reports a read error: the end of the input inside a frame, or an
// error of the source (such as damaged zstd data).
func (d *binaryDecoder) cut(err error, what string) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errorf(d.frameStart, "unexpected end of input in %s (the dump is cut short)", what)
	}
	return d.errorf(d.off, "read: %v", err)
}

// readFrame reads the next frame and checks it; the payload is valid
// until the next call.
func (d *binaryDecoder) readFrame() (byte, []byte, error) {
	d.frameStart = d.off
	var hdr [1 + binary.MaxVarintLen64]byte
	kind, err := d.br.ReadByte()
	if err == io.EOF {
		return 0, nil, d.errorf(d.off, "unexpected end of input: no end frame (the dump is cut short)")
	}
	if err != nil {
		return 0, nil, d.cut(err, "a frame")
	}
	hdr[0] = kind
	hn := 1
	var length uint64
	for shift := 0; ; shift += 7 {
		c, err := d.br.ReadByte()
		if err != nil {
			return 0, nil, d.cut(err, "a frame header")
		}
		if hn == len(hdr) || (shift == 63 && c > 1) {
			return 0, nil, d.errorf(d.frameStart, "frame length overflows")
		}
		hdr[hn] = c
		hn++
		length |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	d.off += int64(hn)
	if length > maxPayload {
		return 0, nil, d.errorf(d.frameStart, "frame length %d is beyond any folio pair", length)
	}
	if err := d.readPayload(int(length)); err != nil {
		return 0, nil, d.cut(err, fmt.Sprintf("a %q frame of %d bytes", kind, length))
	}
	var sum [4]byte
	if _, err := io.ReadFull(d.br, sum[:]); err != nil {
		return 0, nil, d.cut(err, "a frame checksum")
	}
	d.off += int64(len(d.buf)) + 4
	crc := crc32.Update(crc32.Update(0, castagnoli, hdr[:hn]), castagnoli, d.buf)
	if got := binary.LittleEndian.Uint32(sum[:]); got != crc {
		return 0, nil, d.errorf(d.frameStart, "checksum mismatch in a %q frame of %d bytes (stored %08x, computed %08x)", kind, length, got, crc)
	}
	return kind, d.buf, nil
}

// growTo returns b with room for need bytes, growing it when it has less
// to the power of two that holds need and twice its capacity (at most
// limit). NB: append's growth is a quarter past 256 elements, and a
// 16 MiB value grown by it a step at a time allocated 5 times its size
// on the way (TestLargeValueCLILoadMemory).
func growTo(b []byte, need, limit int) []byte {
	if need <= cap(b) {
		return b
	}
	c := max(need, 2*cap(b))
	c = 1 << bits.Len(uint(c-1)) // a power of two: a value of one costs no more
	nb := make([]byte, len(b), max(need, min(c, limit)))
	copy(nb, b)
	return nb
}

// readPayload reads n bytes into d.buf. A huge length is read in steps,
// so a damaged length costs memory only as far as the input really goes
// (four times as far at most).
func (d *binaryDecoder) readPayload(n int) error {
	const step = 1 << 20
	if n <= step || n <= cap(d.buf) {
		if cap(d.buf) < n {
			d.buf = make([]byte, n)
		}
		d.buf = d.buf[:n]
		_, err := io.ReadFull(d.br, d.buf)
		return err
	}
	d.buf = d.buf[:0]
	for len(d.buf) < n {
		m := min(n-len(d.buf), step)
		at := len(d.buf)
		need := at + m
		if need >= n/4 {
			need = n // the input holds a quarter of it: it is likely whole
		}
		d.buf = growTo(d.buf, need, n)[:at+m]
		if _, err := io.ReadFull(d.br, d.buf[at:]); err != nil {
			return err
		}
	}
	return nil
}

func (d *binaryDecoder) next() (Item, error) {
	for {
		if len(d.data) > 0 {
			return d.pair()
		}
		if d.ended {
			if _, err := d.br.ReadByte(); err != io.EOF {
				if err != nil {
					return Item{}, d.cut(err, "the end")
				}
				return Item{}, d.errorf(d.off, "data after the end frame")
			}
			return Item{}, io.EOF
		}
		kind, p, err := d.readFrame()
		if err != nil {
			return Item{}, err
		}
		switch kind {
		case kindBucket:
			b, err := d.bucket(p)
			if err != nil {
				return Item{}, err
			}
			d.buckets++
			d.inBucket = true
			d.itemOff = d.frameStart
			return Item{Bucket: b}, nil
		case kindData:
			if !d.inBucket {
				return Item{}, d.errorf(d.frameStart, "a data frame before any bucket frame")
			}
			if len(p) == 0 {
				return Item{}, d.errorf(d.frameStart, "an empty data frame")
			}
			d.data = p
			d.dataOff = d.off - 4 - int64(len(p))
		case kindEnd:
			nb, n := binary.Uvarint(p)
			var np uint64
			m := 0
			if n > 0 {
				np, m = binary.Uvarint(p[n:])
			}
			if n <= 0 || m <= 0 || n+m != len(p) {
				return Item{}, d.errorf(d.frameStart, "bad end frame")
			}
			if nb != d.buckets || np != d.pairs {
				return Item{}, d.errorf(d.frameStart, "the end frame counts %d buckets and %d pairs, the dump holds %d and %d (frames lost?)",
					nb, np, d.buckets, d.pairs)
			}
			d.ended = true
		case kindHeader:
			return Item{}, d.errorf(d.frameStart, "a second header frame")
		default:
			return Item{}, d.errorf(d.frameStart, "unknown frame kind 0x%02x", kind)
		}
	}
}

// pair takes the next pair from the current data frame.
func (d *binaryDecoder) pair() (Item, error) {
	start := d.dataOff
	p := d.data
	klen, n := binary.Uvarint(p)
	if n <= 0 || klen > uint64(len(p)-n) {
		return Item{}, d.errorf(start, "bad key length in a data frame")
	}
	key := p[n : n+int(klen)]
	p = p[n+int(klen):]
	vlen, m := binary.Uvarint(p)
	if m <= 0 || vlen > uint64(len(p)-m) {
		return Item{}, d.errorf(start, "bad value length in a data frame")
	}
	val := p[m : m+int(vlen)]
	p = p[m+int(vlen):]
	d.dataOff += int64(len(d.data) - len(p))
	d.data = p
	d.pairs++
	d.itemOff = start
	return Item{Key: key, Value: val}, nil
}

func (d *binaryDecoder) bucket(p []byte) (*Bucket, error) {
	bad := func(what string) error { return d.errorf(d.frameStart, "bad bucket frame: %s", what) }
	flags, n := binary.Uvarint(p)
	if n <= 0 || flags&^bucketHasSequence != 0 {
		return nil, bad("flags")
	}
	p = p[n:]
	seq, n := binary.Uvarint(p)
	if n <= 0 {
		return nil, bad("sequence")
	}
	p = p[n:]
	count, n := binary.Uvarint(p)
	if n <= 0 || count > uint64(len(p)) {
		return nil, bad("name count")
	}
	p = p[n:]
	b := &Bucket{Sequence: seq, HasSequence: flags&bucketHasSequence != 0}
	if count > 0 {
		b.Path = make([][]byte, 0, count)
	}
	for range count {
		l, n := binary.Uvarint(p)
		if n <= 0 || l == 0 || l > uint64(len(p)-n) {
			return nil, bad("name length")
		}
		b.Path = append(b.Path, append([]byte(nil), p[n:n+int(l)]...))
		p = p[n+int(l):]
	}
	if len(p) != 0 {
		return nil, bad("trailing bytes")
	}
	return b, nil
}
