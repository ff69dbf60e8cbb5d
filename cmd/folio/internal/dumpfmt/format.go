// Package dumpfmt reads and writes the dump formats of folio's command-line
// tool: a stream of blocks, one per bucket, each holding the bucket's
// key/value pairs in key order.
//
// # Text formats (db_dump, as LMDB's mdb_dump and mdb_load use them)
//
//	folio_dump=1              folio only: the first line of the dump
//	VERSION=3
//	format=bytevalue          or: format=print
//	database=users/admins     the bucket's path (see below)
//	type=btree
//	mapsize=1073741824        LMDB's map size for mdb_load (first block)
//	folio_sequence=7          folio only: the bucket's sequence, if not 0
//	folio_pagesize=4096       folio only: the page size (first block)
//	HEADER=END
//	 6b6579                   key: a space, then the bytes
//	 76616c7565               value: a space, then the bytes
//	DATA=END
//
// format=bytevalue writes bytes as lower-case hex; format=print writes the
// printable ASCII bytes (0x20 to 0x7e) as they are and every other byte as
// a backslash and two hex digits. mdb_dump writes a backslash as "\\";
// folio writes it as "\5c", which means the same to every reader, because
// mdb_load up to at least 0.9.24 mangles a "\\" that follows a hex escape
// on the same line (it keeps a stale byte instead of the backslash).
// mdb_dump -p (0.9.24, and LMDB's sources since) does not escape a
// backslash at all, so its print dumps of data holding backslashes are
// ambiguous: the reader refuses a backslash that starts no valid escape
// and says to dump such data without -p.
//
// mdb_load ignores header keys it does not know (it prints a notice), so
// the folio_ keys cost LMDB nothing. folio_dump=1 opens every text dump
// folio writes, before the first block (mdb_load reads header lines in
// any order and takes it for one of the first header's), so an empty
// database's dump is that line alone, not empty: a reader tells it from
// an empty input, which a failed writer leaves. The reader takes a
// header of nothing but folio_dump lines for no header, and reads dumps
// without the line (mdb_dump's, an earlier folio's) as before. The reader ignores mdb_dump's own
// extras (mapsize, maxreaders, db_pagesize...) and refuses databases with
// duplicate keys (dupsort and its relatives), which a bucket cannot hold.
//
// # Block names
//
// LMDB's named databases are flat, so a nested bucket's block is named by
// its path: the bucket names from the top, joined by '/'. Inside a name,
// '/' is written "\/", '\' is written "\\", and any byte that is not part
// of printable UTF-8 as "\xHH": the same notation as the command line's
// bucket paths, so a name read from a dump can be pasted into --bucket. A
// name never holds a newline or a NUL byte, which mdb_load could not
// carry. A block without a database= line is LMDB's main (unnamed)
// database; folio's dumps never write one, as folio keeps data only in
// buckets.
//
// # Binary format (folio's own)
//
//	dump   = magic frame*
//	magic  = "FOLIODMP"                                     8 bytes
//	frame  = kind:1 length:uvarint payload:length crc:4
//
// crc is the CRC-32C (Castagnoli) of kind, length and payload, little
// endian. Frames, in order: one header ('H': version uvarint = 1, page
// size uvarint, 0 if unknown); per bucket one bucket frame ('B': flags
// uvarint (bit 0: the sequence is set), sequence uvarint, the number of
// names uvarint, each name as length uvarint and bytes) followed by data
// frames ('D': one or more pairs, each key length uvarint, key, value
// length uvarint, value); one end frame ('E': buckets uvarint, pairs
// uvarint) and nothing after it. The end frame's counts catch a dump cut
// short or missing whole frames; the checksums, damaged ones. The kinds,
// the magic and the layouts are wire format: never change them, add new
// kinds instead (a reader refuses kinds it does not know).
//
// Any format may be compressed with zstd; the reader recognises zstd's
// frame magic and decompresses before detecting the format.
package dumpfmt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is a dump format.
type Format int

// The formats.
const (
	// Text is db_dump's format=bytevalue: keys and values in hex.
	Text Format = iota + 1
	// Print is db_dump's format=print: printable bytes as they are.
	Print
	// Binary is folio's framed, checksummed format.
	Binary
)

func (f Format) String() string {
	switch f {
	case Text:
		return "text"
	case Print:
		return "print"
	case Binary:
		return "binary"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses a format name as String writes it.
func ParseFormat(s string) (Format, error) {
	for _, f := range []Format{Text, Print, Binary} {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown dump format %q (want text, print or binary)", s)
}

// Bucket starts a block: the pairs that follow belong to it.
type Bucket struct {
	// Path names the bucket from the top level; empty for an unnamed
	// block (LMDB's main database).
	Path [][]byte
	// Sequence is the bucket's sequence (Bucket.Sequence), meaningful
	// when HasSequence is set: a dump from LMDB has none.
	Sequence    uint64
	HasSequence bool
}

// Item is what Reader.Next returns: the start of a block (Bucket set) or
// a pair of the current block.
type Item struct {
	Bucket *Bucket
	// Key and Value are valid until the next call to Next.
	Key, Value []byte
}

// Visitor receives a dump's blocks and pairs: Writer and Digest are
// visitors, and so is whatever walks a database to dump it.
type Visitor interface {
	BeginBucket(b Bucket) error
	Put(key, value []byte) error
}

// ErrMalformed is wrapped by every SyntaxError.
var ErrMalformed = errors.New("malformed dump")

// SyntaxError is a malformed dump: where, and what is wrong.
type SyntaxError struct {
	Format Format
	// Line is the 1-based line of a text dump.
	Line int64
	// Offset is the byte offset into a binary dump, counted in the
	// decompressed stream when Compressed.
	Offset     int64
	Compressed bool
	Msg        string
}

func (e *SyntaxError) Error() string {
	if e.Format == Binary || e.Line == 0 {
		s := fmt.Sprintf("byte offset %d", e.Offset)
		if e.Compressed {
			s += " (decompressed)"
		}
		return s + ": " + e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return ErrMalformed }

// EncodePath writes a bucket path as a block name (see the package doc).
func EncodePath(path [][]byte) string {
	var sb strings.Builder
	for i, name := range path {
		if i > 0 {
			sb.WriteByte('/')
		}
		for len(name) > 0 {
			r, size := utf8.DecodeRune(name)
			switch {
			case r == '/' || r == '\\':
				sb.WriteByte('\\')
				sb.WriteRune(r)
			case r == utf8.RuneError && size <= 1, !strconv.IsPrint(r):
				for _, b := range name[:size] {
					sb.WriteString(`\x`)
					sb.WriteByte(hexDigits[b>>4])
					sb.WriteByte(hexDigits[b&15])
				}
			default:
				sb.Write(name[:size])
			}
			name = name[size:]
		}
	}
	return sb.String()
}

// DecodePath reads a block name written by EncodePath.
func DecodePath(s string) ([][]byte, error) {
	if s == "" {
		return nil, errors.New("empty bucket path")
	}
	var path [][]byte
	var cur []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '/':
			if len(cur) == 0 {
				return nil, fmt.Errorf("bucket path %q: empty bucket name at byte %d", s, i)
			}
			path, cur = append(path, cur), nil
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf(`bucket path %q: trailing '\'`, s)
			}
			i++
			switch s[i] {
			case '/', '\\':
				cur = append(cur, s[i])
			case 'x':
				if i+2 >= len(s) {
					return nil, fmt.Errorf(`bucket path %q: "\x" needs two hex digits`, s)
				}
				hi, ok1 := unhex(s[i+1])
				lo, ok2 := unhex(s[i+2])
				if !ok1 || !ok2 {
					return nil, fmt.Errorf(`bucket path %q: "\x%s" is not a hex byte`, s, s[i+1:i+3])
				}
				cur = append(cur, hi<<4|lo)
				i += 2
			default:
				return nil, fmt.Errorf(`bucket path %q: unknown escape "\%c" (want "\/", "\\" or "\xHH")`, s, s[i])
			}
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) == 0 {
		return nil, fmt.Errorf("bucket path %q: empty bucket name at the end", s)
	}
	return append(path, cur), nil
}

const hexDigits = "0123456789abcdef"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
