package dumpfmt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// textMark is the first line of every text dump folio writes (format.go).
const textMark = "folio_dump=1"

// textEncoder writes db_dump's text formats (Text, Print).
type textEncoder struct {
	w        *bufio.Writer
	print    bool
	pageSize int
	mapSize  int64
	open     bool // a block's header is written and its DATA=END is not
	buf      []byte
}

func (e *textEncoder) beginBucket(b Bucket) error {
	name := EncodePath(b.Path)
	if n := len("database=") + len(name); n > maxHeaderLine {
		// Buckets nest as deep as a program likes, each name up to a key's
		// size, so no bound on header lines holds every path; the writer
		// keeps to the reader's rather than write a dump no reader loads.
		return fmt.Errorf("the block name of bucket %s (%d nested names) makes a header line of %d bytes, "+
			"more than the %d a text dump may hold: use the binary format", clip([]byte(name)), len(b.Path), n, maxHeaderLine)
	}
	buf := e.buf[:0]
	if e.open {
		buf = append(buf, "DATA=END\n"...)
	}
	buf = append(buf, "VERSION=3\nformat="...)
	if e.print {
		buf = append(buf, "print\n"...)
	} else {
		buf = append(buf, "bytevalue\n"...)
	}
	if len(b.Path) > 0 {
		buf = append(buf, "database="...)
		buf = append(buf, name...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "type=btree\n"...)
	if e.mapSize > 0 {
		buf = fmt.Appendf(buf, "mapsize=%d\n", e.mapSize)
		e.mapSize = 0 // mdb_load reads only the first block's
	}
	// NB: a sequence of 0 is written too. Loaded into an existing
	// bucket, a block without one leaves the bucket's sequence as it is
	// (a dump from LMDB has none); folio's bucket had 0, and the load
	// must set that as it sets any other (the binary format always
	// carries it).
	if b.HasSequence {
		buf = fmt.Appendf(buf, "folio_sequence=%d\n", b.Sequence)
	}
	if e.pageSize > 0 {
		buf = fmt.Appendf(buf, "folio_pagesize=%d\n", e.pageSize)
		e.pageSize = 0 // the first block says it for the dump
	}
	buf = append(buf, "HEADER=END\n"...)
	e.open = true
	_, err := e.w.Write(buf)
	e.buf = buf[:0]
	return err
}

func (e *textEncoder) put(k, v []byte) error {
	buf := e.appendLine(e.buf[:0], k)
	// NB: a large value goes out a slice at a time. Its line built whole
	// took 2-3 times its size, and growing it copied that again and
	// again: a text dump of a 100 MB value allocated 1.2 GB.
	buf = append(buf, ' ')
	for len(v) > textChunk {
		buf = e.appendData(buf, v[:textChunk])
		if _, err := e.w.Write(buf); err != nil {
			return err
		}
		buf, v = buf[:0], v[textChunk:]
	}
	buf = append(e.appendData(buf, v), '\n')
	_, err := e.w.Write(buf)
	if cap(buf) <= 1<<20 {
		e.buf = buf[:0] // keep a buffer for ordinary pairs, not for a huge one
	}
	return err
}

// textChunk is how much of a value put encodes before writing it out.
const textChunk = 64 << 10

func (e *textEncoder) appendLine(buf, b []byte) []byte {
	return append(e.appendData(append(buf, ' '), b), '\n')
}

// appendData appends b encoded for a data line, without the line's
// leading space and newline.
func (e *textEncoder) appendData(buf, b []byte) []byte {
	if !e.print {
		for _, c := range b {
			buf = append(buf, hexDigits[c>>4], hexDigits[c&15])
		}
		return buf
	}
	for _, c := range b {
		// NB: '\' goes out as "\5c", not mdb_dump's "\\": see the package
		// doc for the mdb_load bug this avoids.
		if c >= 0x20 && c <= 0x7e && c != '\\' {
			buf = append(buf, c)
		} else {
			buf = append(buf, '\\', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return buf
}

// abort leaves the dump inside a block, whose DATA=END never comes, or
// before any, inside a header that never ends: readers refuse both as a
// dump cut short, where an empty text dump would be a valid one.
func (e *textEncoder) abort() error {
	if e.open {
		return nil
	}
	_, err := e.w.WriteString("VERSION=3\n")
	return err
}

func (e *textEncoder) finish() error {
	if !e.open {
		return nil
	}
	e.open = false
	_, err := e.w.WriteString("DATA=END\n")
	return err
}

// textDecoder reads the text formats.
type textDecoder struct {
	br       *bufio.Reader
	line     int64 // lines read so far
	inBlock  bool
	print    bool   // the current block is format=print
	first    Format // of the first block
	pageSize int
	itemLine int64 // the line of the last item returned
	long     []byte
	key, val []byte
	part     []byte // scratch of readValue
}

func newTextDecoder(br *bufio.Reader) *textDecoder {
	return &textDecoder{br: br}
}

func (d *textDecoder) errorf(format string, args ...any) error {
	return &SyntaxError{Format: Text, Line: d.line, Msg: fmt.Sprintf(format, args...)}
}

// The longest key and value folio holds: folio.MaxKeySize and
// folio.MaxValueSize (TestLimitsAreFolios keeps them equal). dumpfmt
// keeps its own copies, as binary.go's maxPayload does, to stay a format
// package that knows nothing of the database.
const (
	maxKeySize   = 32768
	maxValueSize = 1<<31 - 2
)

// maxHeaderLine bounds a header line as read. A line is read whole
// before it is decoded, so without a bound a dump with one huge line (or
// no newline at all) costs its size in memory several times over before
// it fails; with one, it fails as soon as the line is longer than any
// valid line of its kind (dataLimit bounds the data lines). The longest
// header line is database= with a bucket path, at most 4 characters a
// byte ("\xHH"): 1 MiB is room for 8 nested names of the longest size.
// NB: buckets nest without limit, so a path can be longer still; the
// writer refuses to write such a block name (textEncoder.beginBucket),
// and the binary format, with no lines, carries it.
const maxHeaderLine = 1 << 20

// readLine returns the next line without its newline, valid until the
// next call; io.EOF when there is none. A line longer than limit bytes
// (what, e.g. "key line") fails as soon as that much is read.
func (d *textDecoder) readLine(limit int64, what string) ([]byte, error) {
	line, err := d.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		d.long = append(d.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && int64(len(d.long)) <= limit {
			line, err = d.br.ReadSlice('\n')
			d.long = append(d.long, line...)
		}
		line = d.long
	}
	return d.endLine(line, err, limit, what)
}

// endLine finishes readLine for a line read whole (line and err from
// ReadSlice, or the line assembled in d.long).
func (d *textDecoder) endLine(line []byte, err error, limit int64, what string) ([]byte, error) {
	n := int64(len(line))
	if err == nil {
		n-- // the newline
	}
	if n > limit {
		return nil, &SyntaxError{Format: Text, Line: d.line + 1,
			Msg: fmt.Sprintf("a %s longer than %d bytes, the most a valid one holds (starting %s)", what, limit, clip(line))}
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		d.line++ // a last line without its newline
		return line, nil
	case err != nil:
		return nil, &SyntaxError{Format: Text, Line: d.line + 1, Msg: "read: " + err.Error()}
	}
	d.line++
	return line[:len(line)-1], nil
}

func (d *textDecoder) next() (Item, error) {
	for {
		if !d.inBlock {
			return d.readHeader()
		}
		line, err := d.readLine(d.dataLimit(maxKeySize), "key line")
		if err == io.EOF {
			return Item{}, d.errorf("unexpected end of input: the block has no DATA=END (the dump is cut short?)")
		}
		if err != nil {
			return Item{}, err
		}
		if len(line) == 0 || line[0] != ' ' {
			if string(line) == "DATA=END" {
				d.inBlock = false
				continue
			}
			return Item{}, d.errorf("want a key line (a space, then the key) or DATA=END, found %s", clip(line))
		}
		d.itemLine = d.line
		if d.key, err = d.decode(d.key[:0], line[1:]); err != nil {
			return Item{}, d.errorf("key: %v", err)
		}
		if err := d.readValue(); err != nil {
			return Item{}, err
		}
		return Item{Key: d.key, Value: d.val}, nil
	}
}

// readValue reads the value line of the key on line d.itemLine into
// d.val. A line longer than the reader's buffer is decoded a buffer at a
// time as it is read: read whole first, a 16 MiB value's line (32 MiB of
// hex, up to 48 of print) grew a copy at a time, and a load allocated 15
// to 23 times the value's size (TestLargeValueCLILoadMemory).
func (d *textDecoder) readValue() error {
	noValue := func() error {
		return d.errorf("unexpected end of input: the key on line %d has no value line", d.itemLine)
	}
	notValue := func(line []byte) error {
		return d.errorf("want the value line (a space, then the value) for the key on line %d, found %s", d.itemLine, clip(line))
	}
	limit := d.dataLimit(maxValueSize)
	line, err := d.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		line, err = d.endLine(line, err, limit, "value line")
		if err == io.EOF {
			return noValue()
		}
		if err != nil {
			return err
		}
		if len(line) == 0 || line[0] != ' ' {
			return notValue(line)
		}
		if d.val, err = d.decode(d.val[:0], line[1:]); err != nil {
			return d.errorf("value: %v", err)
		}
		return nil
	}
	d.line++ // errors below are on this line
	if line[0] != ' ' {
		return notValue(line)
	}
	first := clip(line)
	d.val = d.val[:0]
	var carry [4]byte // the undecoded end of the last part: half a hex byte, or of an escape
	nc := 0
	read := int64(len(line)) // bytes of the line read
	col := 0                 // characters of the value before part
	part := line[1:]
	for {
		last := !errors.Is(err, bufio.ErrBufferFull)
		switch {
		case last && err == nil:
			read--
			part = part[:len(part)-1] // the newline
		case last && err != io.EOF:
			return &SyntaxError{Format: Text, Line: d.line, Msg: "read: " + err.Error()}
		}
		if read > limit {
			return &SyntaxError{Format: Text, Line: d.line,
				Msg: fmt.Sprintf("a value line longer than %d bytes, the most a valid one holds (starting %s)", limit, first)}
		}
		if nc > 0 {
			// The carried bytes and enough of part to complete them.
			both := append(carry[:nc:nc], part[:min(len(part), 2)]...)
			var used int
			if d.val, used, err = d.decodePart(d.val, both, col-nc, last && len(part) <= 2); err != nil {
				return d.errorf("value: %v", err)
			}
			if used < nc { // still incomplete: part was all in both
				nc = copy(carry[:], both[used:])
				col += len(part)
				part = nil
			} else {
				part = part[used-nc:]
				col += used - nc
				nc = 0
			}
		}
		var used int
		if d.val, used, err = d.decodePart(d.val, part, col, last); err != nil {
			return d.errorf("value: %v", err)
		}
		nc += copy(carry[nc:], part[used:])
		col += len(part)
		if last {
			return nil
		}
		line, err = d.br.ReadSlice('\n')
		read += int64(len(line))
		part = line
	}
}

// dataLimit bounds a data line holding up to size bytes: a space, then 2
// characters a byte in hex, up to 3 in print format ("\HH").
func (d *textDecoder) dataLimit(size int64) int64 {
	if d.print {
		return 1 + 3*size
	}
	return 1 + 2*size
}

// readHeader reads a block's header; io.EOF if the input ends before one.
func (d *textDecoder) readHeader() (Item, error) {
	b := &Bucket{}
	started := false
	d.print = false
	for {
		raw, err := d.readLine(maxHeaderLine, "header line")
		if err == io.EOF {
			if !started {
				return Item{}, io.EOF
			}
			return Item{}, d.errorf("unexpected end of input in a header (no HEADER=END)")
		}
		if err != nil {
			return Item{}, err
		}
		line := string(raw)
		if key, val, ok := strings.Cut(line, "="); ok && key == "folio_dump" {
			// The mark a folio text dump opens with: no header of its
			// own, so a dump of nothing but marks (an empty database's,
			// concatenated ones) is a whole, empty dump.
			if line != textMark {
				return Item{}, d.errorf("unsupported folio_dump=%s (want 1): the dump was written by a newer folio", clip([]byte(val)))
			}
			continue
		}
		if !started {
			started = true
			d.itemLine = d.line
		}
		if line == "HEADER=END" {
			d.inBlock = true
			if d.first == 0 {
				d.first = Text
				if d.print {
					d.first = Print
				}
			}
			return Item{Bucket: b}, nil
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			if strings.HasPrefix(line, " ") && d.line == d.itemLine {
				return Item{}, d.errorf("a data line outside a block (no header before it)")
			}
			if strings.HasPrefix(line, " ") {
				return Item{}, d.errorf("a data line before HEADER=END")
			}
			return Item{}, d.errorf("want a header line (KEY=VALUE), found %s", clip(raw))
		}
		switch key {
		case "VERSION":
			if n, err := strconv.Atoi(val); err != nil || n < 1 || n > 3 {
				return Item{}, d.errorf("unsupported VERSION %q (want 1 to 3)", val)
			}
		case "format":
			switch val {
			case "bytevalue":
				d.print = false
			case "print":
				d.print = true
			default:
				return Item{}, d.errorf("unsupported format %q (want bytevalue or print)", val)
			}
		case "type":
			if val != "btree" {
				return Item{}, d.errorf("unsupported type %q (only btree)", val)
			}
		case "database":
			p, err := DecodePath(val)
			if err != nil {
				return Item{}, d.errorf("database name: %v", err)
			}
			b.Path = p
		case "duplicates", "dupsort", "dupfixed", "integerdup", "reversedup":
			if val != "0" {
				return Item{}, d.errorf("%s=%s: the database holds duplicate keys, and a folio bucket holds one value per key", key, val)
			}
		case "folio_sequence":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return Item{}, d.errorf("bad folio_sequence %q", val)
			}
			b.Sequence, b.HasSequence = n, true
		case "folio_pagesize":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return Item{}, d.errorf("bad folio_pagesize %q", val)
			}
			if d.pageSize == 0 {
				d.pageSize = n
			}
		default:
			// mapsize, maxreaders, db_pagesize, reversekey, integerkey and
			// keys of tools to come: nothing folio needs (mdb_load, too,
			// ignores what it does not know).
		}
	}
}

func (d *textDecoder) decode(dst, src []byte) ([]byte, error) {
	if d.print {
		dst, _, err := decodePrint(dst, src, 0, true)
		return dst, err
	}
	return decodeHex(dst, src, 0)
}

// decodePart decodes part of a value line that is read a part at a time
// (readValue): the characters of the value from column col on (0: the
// first). Unless last, it leaves undecoded an end that may be half a hex
// byte or of an escape, decoding src[:used]. Errors name columns of the
// whole line.
func (d *textDecoder) decodePart(dst, src []byte, col int, last bool) (out []byte, used int, err error) {
	// Grown by doubling: append's quarter at a time, a part at a time,
	// allocated 5 times the value.
	if d.print {
		// Into scratch first: a part's length decoded is known only then
		// (a third to all of its characters).
		d.part, used, err = decodePrint(d.part[:0], src, col, last)
		dst = append(growTo(dst, len(dst)+len(d.part), math.MaxInt), d.part...)
		return dst, used, err
	}
	dst = growTo(dst, len(dst)+len(src)/2, math.MaxInt)
	used = len(src) &^ 1
	if last {
		if (col+len(src))%2 != 0 {
			return dst, 0, fmt.Errorf("odd number of hex digits (%d)", col+len(src))
		}
	}
	out, err = decodeHex(dst, src[:used], col)
	return out, used, err
}

// decodeHex decodes src, the characters of a line from column col on (0:
// the first).
func decodeHex(dst, src []byte, col int) ([]byte, error) {
	if len(src)%2 != 0 {
		return dst, fmt.Errorf("odd number of hex digits (%d)", len(src))
	}
	dst = slices.Grow(dst, len(src)/2) // a large value grew by a copy per quarter
	for i := 0; i < len(src); i += 2 {
		hi, ok1 := unhex(src[i])
		lo, ok2 := unhex(src[i+1])
		if !ok1 || !ok2 {
			return dst, fmt.Errorf("column %d: %q is not a hex byte", col+i+2, src[i:i+2])
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, nil
}

// decodePrint decodes src, the characters of a line from column col on
// (0: the first). Unless last, an escape cut short by the end is left
// undecoded: it decodes src[:used].
func decodePrint(dst, src []byte, col int, last bool) (out []byte, used int, err error) {
	for i := 0; i < len(src); {
		j := bytes.IndexByte(src[i:], '\\')
		if j < 0 {
			return append(dst, src[i:]...), len(src), nil
		}
		dst = append(dst, src[i:i+j]...)
		i += j
		if i+1 < len(src) && src[i+1] == '\\' {
			dst = append(dst, '\\')
			i += 2
			continue
		}
		if i+2 >= len(src) {
			if !last {
				return dst, i, nil
			}
			return dst, i, fmt.Errorf(`column %d: incomplete escape (want "\\" or "\HH"; mdb_dump -p writes a backslash unescaped, so dump data holding backslashes without -p)`, col+i+2)
		}
		hi, ok1 := unhex(src[i+1])
		lo, ok2 := unhex(src[i+2])
		if !ok1 || !ok2 {
			return dst, i, fmt.Errorf(`column %d: bad escape %q (want "\\" or "\HH"; mdb_dump -p writes a backslash unescaped, so dump data holding backslashes without -p)`,
				col+i+2, src[i:i+3])
		}
		dst = append(dst, hi<<4|lo)
		i += 3
	}
	return dst, len(src), nil
}

// clip quotes the start of a line for an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "..."
	}
	return strconv.Quote(string(b))
}
