package dumpfmt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A value line longer than the reader's 256 KiB buffer is decoded a
// buffer at a time (textDecoder.readValue). These values put escapes
// and hex pairs across every buffer boundary, by a prefix of 0 to 3
// characters; each decodes as a short line of the same value does, and
// a damaged one fails on the same column.

// printEncode is the print format's encoding of b.
func printEncode(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == '\\':
			s.WriteString(`\\`)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			fmt.Fprintf(&s, `\%02x`, c)
		}
	}
	return s.String()
}

// longLineValue is n bytes mixing printable characters, backslashes and
// escaped bytes, so that every kind of escape meets the boundaries.
func longLineValue(n int, shift int) []byte {
	v := make([]byte, n)
	for i := range v {
		switch (i + shift) % 7 {
		case 0, 3:
			v[i] = '\\'
		case 1:
			v[i] = byte(i)
		case 5:
			v[i] = 0x80 | byte(i>>3)
		default:
			v[i] = 'a' + byte(i%26)
		}
	}
	return v
}

func longLineDump(print bool, key, line string) string {
	format := "bytevalue"
	if print {
		format = "print"
	}
	return "VERSION=3\nformat=" + format + "\ndatabase=b\ntype=btree\nHEADER=END\n " + key + "\n " + line + "\nDATA=END\n"
}

func readOnePair(t *testing.T, dump string) (Item, error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if it, err := r.Next(); err != nil || it.Bucket == nil {
		t.Fatalf("header: %v", err)
	}
	it, err := r.Next()
	if err != nil {
		return it, err
	}
	it.Value = bytes.Clone(it.Value)
	if _, err := r.Next(); err != io.EOF {
		return it, fmt.Errorf("after the pair: %v, want EOF", err)
	}
	return it, nil
}

func TestTextLongValueLines(t *testing.T) {
	const buf = 256 << 10
	for _, print := range []bool{false, true} {
		for _, shift := range []int{0, 1, 2, 3, 4, 5, 6} {
			for _, n := range []int{buf / 3, buf/2 + 1, buf + 5, 3*buf/2 + 7} {
				v := longLineValue(n, shift)
				var line string
				key := "6b"
				if print {
					line, key = printEncode(v), "k"
				} else {
					line = hex.EncodeToString(v)
				}
				// Prefixes move the boundaries by a character or two.
				for pre := 0; pre < 4; pre++ {
					dump := strings.Repeat("\n", 0) + longLineDump(print, key, line)
					dump = strings.Replace(dump, "database=b", "database="+strings.Repeat("b", 1+pre), 1)
					it, err := readOnePair(t, dump)
					if err != nil {
						t.Fatalf("print=%v shift %d, %d bytes, prefix %d: %v", print, shift, n, pre, err)
					}
					if !bytes.Equal(it.Value, v) {
						t.Fatalf("print=%v shift %d, %d bytes, prefix %d: the value differs (%d bytes)", print, shift, n, pre, len(it.Value))
					}
				}
			}
		}
	}
}

// TestTextLongValueLineErrors: damage in a long value line is reported
// as in a short one, at the same line and column (counted from the
// line's start, across buffers).
func TestTextLongValueLineErrors(t *testing.T) {
	const buf = 256 << 10
	type damage struct {
		name  string
		print bool
		edit  func(line string, at int) string
	}
	for _, dm := range []damage{
		{"bad hex", false, func(l string, at int) string { return l[:at&^1] + "zz" + l[at&^1+2:] }},
		{"odd hex", false, func(l string, at int) string { return l + "a" }},
		{"bad escape", true, func(l string, at int) string {
			return l[:at] + `\zz` + l[at:]
		}},
		{"incomplete escape", true, func(l string, at int) string { return l + `\4` }},
	} {
		for _, at := range []int{10, buf - 3, buf - 2, buf - 1, buf, buf + 1, 2*buf - 1} {
			v := bytes.Repeat([]byte("x"), 2*buf)
			line := hex.EncodeToString(v)
			if dm.print {
				line = string(v)
			}
			bad := dm.edit(line, at)
			// The same damage, in a line short enough to be read whole.
			short := dm.edit(line[:64], min(at, 20))
			_, errLong := readOnePair(t, longLineDump(dm.print, "6b", bad))
			_, errShort := readOnePair(t, longLineDump(dm.print, "6b", short))
			var se *SyntaxError
			if !errors.As(errLong, &se) || se.Line != 7 {
				t.Errorf("%s at %d: %v, want a syntax error on line 7", dm.name, at, errLong)
				continue
			}
			// Same message, but for the column or count.
			if strip(errLong.Error()) != strip(errShort.Error()) {
				t.Errorf("%s at %d: %q, in a short line %q", dm.name, at, errLong, errShort)
			}
			if dm.name == "bad hex" || dm.name == "bad escape" {
				if want := fmt.Sprintf("column %d:", at&^1+2); dm.name == "bad hex" && !strings.Contains(errLong.Error(), want) {
					t.Errorf("%s at %d: %q does not say %q", dm.name, at, errLong, want)
				}
				if want := fmt.Sprintf("column %d:", at+2); dm.name == "bad escape" && !strings.Contains(errLong.Error(), want) {
					t.Errorf("%s at %d: %q does not say %q", dm.name, at, errLong, want)
				}
			}
		}
	}
}

// strip drops the digits of s.
func strip(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, s)
}

// FuzzReaderSmallBuffer reads each input with the reader's usual buffer
// and with one of 16 bytes, so that nearly every line is longer than the
// buffer and a value line is decoded a part at a time (readValue), with
// escapes and hex pairs cut at every place. Both must accept the same
// inputs as the same items, or fail on the same line. It shares
// FuzzReader's seed corpus.
func FuzzReaderSmallBuffer(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzReader", "*"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		// The corpus files' format: go test fuzz v1, then []byte("...").
		if data, ok := corpusBytes(b); ok {
			f.Add(data)
		}
	}
	f.Add([]byte(longLineDump(true, "k", printEncode(longLineValue(100, 1)))))
	f.Add([]byte(longLineDump(false, "6b", hex.EncodeToString(longLineValue(100, 2)))))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _, err := readAll(data)
		defer func(n int) { readerBuffer = n }(readerBuffer)
		readerBuffer = 16
		recs2, _, err2 := readAll(data)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("usual buffer: %v; 16 bytes: %v", err, err2)
		}
		var se, se2 *SyntaxError
		if errors.As(err, &se) != errors.As(err2, &se2) || se != nil && se.Line != se2.Line {
			t.Fatalf("usual buffer: %v; 16 bytes: %v", err, err2)
		}
		if len(recs) != len(recs2) {
			t.Fatalf("%d items with the usual buffer, %d with 16 bytes (%v, %v)", len(recs), len(recs2), err, err2)
		}
		if err == nil {
			sameRecs(t, recs2, recs)
		}
	})
}

// corpusBytes decodes a corpus file holding one []byte value.
func corpusBytes(b []byte) ([]byte, bool) {
	_, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, false
	}
	s := strings.TrimSpace(string(rest))
	if !strings.HasPrefix(s, "[]byte(") || !strings.HasSuffix(s, ")") {
		return nil, false
	}
	v, err := strconv.Unquote(s[len("[]byte(") : len(s)-1])
	if err != nil {
		return nil, false
	}
	return []byte(v), true
}
