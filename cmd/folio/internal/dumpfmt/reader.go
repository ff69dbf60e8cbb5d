package dumpfmt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic opens every zstd frame; gzipMagic every gzip member.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// maxZstdWindow bounds the decompressor's window: zstd's own tool uses at
// most 8 MiB below --long, and a damaged header must not cost gigabytes.
const maxZstdWindow = 128 << 20

// Reader reads a dump in any format, detected from its first bytes, and
// decompresses zstd on the way.
type Reader struct {
	dec        decoder
	zr         *zstd.Decoder
	format     Format
	compressed bool
}

type decoder interface {
	next() (Item, error)
}

// readerBuffer is the size of the reader's buffer: a text line longer
// than it is read in parts (a variable, for FuzzReaderSmallBuffer).
var readerBuffer = 256 << 10

// NewReader detects the format of the dump in r. An empty input is an
// empty text dump.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{}
	br := bufio.NewReaderSize(r, readerBuffer)
	head, err := peek(br, false)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(head, zstdMagic) {
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderConcurrency(2))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		rd.zr, rd.compressed = zr, true
		br = bufio.NewReaderSize(zstdErrors{zr}, readerBuffer)
		if head, err = peek(br, true); err != nil {
			zr.Close()
			return nil, err
		}
	}
	switch {
	case bytes.HasPrefix(head, []byte(binaryMagic)):
		d, err := newBinaryDecoder(br, rd.compressed)
		if err != nil {
			rd.Close()
			return nil, err
		}
		rd.dec, rd.format = d, Binary
	case len(head) == 0 || isLetter(head[0]):
		rd.dec, rd.format = newTextDecoder(br), Text
	default:
		rd.Close()
		msg := fmt.Sprintf("not a dump: it starts with % x, not a db_dump header (VERSION=3...), folio's binary magic or zstd's", head)
		if bytes.HasPrefix(head, gzipMagic) {
			msg = "gzip-compressed input: decompress it first (folio reads zstd)"
		}
		return nil, &SyntaxError{Format: Binary, Offset: 0, Compressed: rd.compressed, Msg: msg}
	}
	return rd, nil
}

// zstdErrors reads the decompressor, marking its errors as zstd's: a
// dump cut short or damaged inside its compressed bytes otherwise failed
// with "read: unexpected EOF" or "read: maximum output size exceeded" at
// some line or offset of the decompressed stream, which said nothing of
// what was wrong.
type zstdErrors struct{ r io.Reader }

func (z zstdErrors) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = zstdError{err}
	}
	return n, err
}

// zstdError is an error of the zstd decompressor.
type zstdError struct{ err error }

func (e zstdError) Error() string {
	if errors.Is(e.err, io.ErrUnexpectedEOF) {
		return "zstd: the compressed input ends inside a frame (cut short or damaged)"
	}
	return "zstd: damaged compressed input: " + e.err.Error()
}

func (e zstdError) Unwrap() error { return e.err }

// peek returns up to 8 bytes from the start of br.
func peek(br *bufio.Reader, compressed bool) ([]byte, error) {
	head, err := br.Peek(len(binaryMagic))
	if err != nil && err != io.EOF {
		return nil, &SyntaxError{Format: Binary, Compressed: compressed, Msg: "read: " + err.Error()}
	}
	return head, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// Next returns the next block start or pair, and io.EOF after a complete
// dump. A malformed dump gives a *SyntaxError saying where.
func (r *Reader) Next() (Item, error) { return r.dec.next() }

// Format is the dump's format: Binary, or for a text dump the format of
// its first block (Text until one is read).
func (r *Reader) Format() Format {
	if d, ok := r.dec.(*textDecoder); ok && d.first != 0 {
		return d.first
	}
	return r.format
}

// Compressed reports whether the dump is zstd-compressed.
func (r *Reader) Compressed() bool { return r.compressed }

// PageSize is the page size the dump records, 0 if none (yet).
func (r *Reader) PageSize() int {
	switch d := r.dec.(type) {
	case *textDecoder:
		return d.pageSize
	case *binaryDecoder:
		return d.pageSize
	}
	return 0
}

// Pos is where the last item returned begins: a line number in a text
// dump, a byte offset in a binary one. PosString describes it.
func (r *Reader) Pos() int64 {
	switch d := r.dec.(type) {
	case *textDecoder:
		return d.itemLine
	case *binaryDecoder:
		return d.itemOff
	}
	return 0
}

// PosString describes a position Pos returned: "line 12", "byte offset 4096".
func (r *Reader) PosString(pos int64) string {
	if r.format == Binary {
		if r.compressed {
			return fmt.Sprintf("byte offset %d (decompressed)", pos)
		}
		return fmt.Sprintf("byte offset %d", pos)
	}
	return fmt.Sprintf("line %d", pos)
}

// Close releases the decompressor; it does not close the source.
func (r *Reader) Close() {
	if r.zr != nil {
		r.zr.Close()
		r.zr = nil
	}
}
