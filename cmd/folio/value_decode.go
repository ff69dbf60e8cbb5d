package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io"
	"slices"
	"unicode"
	"unicode/utf8"
)

// decodeReader reads the bytes that hex or base64 text read from r
// encodes, decoding the text as it comes: put then holds a value from a
// pipe once, not as text and then again as bytes
// (TestPutPipeEncodedCommandMemory). It decodes as decoding the text whole
// did (TestDecodeReaderAsWhole): the white space around the text ignored,
// as bytes.TrimSpace ignores it; inside it, none in hex, and base64's \r
// and \n; an error as hex.Decode or base64's Decode gives it for the
// trimmed text, a base64 offset counted from the text's first byte. We
// rejected hex.NewDecoder and base64.NewDecoder: neither ignores white
// space around the text, hex's says "unexpected EOF" of an odd length,
// and base64's offsets count from the piece it decoded, not the text.
type decodeReader struct {
	r      io.Reader
	format dataFormat // formatHex or formatBase64
	text   []byte     // read, not yet decoded
	off    int64      // offset of text[0] in the trimmed text
	lead   bool       // the white space before the text is behind
	// text[heldFrom:] is held: white space at the text's end, or inside
	// it if more text follows.
	heldFrom int
	eof      bool   // r is done
	padded   bool   // base64 padding ended a quantum: only \r and \n may follow
	out      []byte // decoded, not yet returned: outBuf's
	outBuf   []byte
	err      error // r's, or a decodeError; returned once out is
}

// decodeError is text that is not in the format it is read in.
type decodeError struct{ err error }

func (e decodeError) Error() string { return e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

// decodeChunk is how much text a decodeReader reads at a time.
const decodeChunk = 64 << 10

func newDecodeReader(r io.Reader, format dataFormat) *decodeReader {
	return &decodeReader{r: r, format: format, text: make([]byte, 0, decodeChunk)}
}

func (d *decodeReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.eof && len(d.text) == 0 {
			return 0, io.EOF
		}
		d.step()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// held reports whether b may belong to white space at the text's end:
// ASCII white space, or a byte of a multi-byte rune (U+00A0 is white
// space too). Such bytes are decoded only once a byte that is not
// follows, which makes them part of the text, and dropped at its end.
func held(b byte) bool {
	switch b {
	case '\t', '\n', '\v', '\f', '\r', ' ':
		return true
	}
	return b >= utf8.RuneSelf
}

// step reads text from r, if r has more, and decodes what of it can be.
// NB: each byte is looked at once to find the white space at either end,
// however many reads a long run of it takes.
func (d *decodeReader) step() {
	old := len(d.text) // text[old:] is new
	if !d.eof {
		if len(d.text) == cap(d.text) {
			// White space longer than a chunk, or base64 without a
			// whole quantum: r's limit bounds it (readValue).
			d.text = slices.Grow(d.text, max(decodeChunk, len(d.text)))
		}
		n, err := d.r.Read(d.text[len(d.text):cap(d.text)])
		d.text = d.text[:len(d.text)+n]
		switch {
		case err == io.EOF:
			d.eof = true
		case err != nil:
			d.err = err
			return
		}
	}
	if !d.lead {
		i := old // text[:old] is held
		for i < len(d.text) && held(d.text[i]) {
			i++
		}
		if i == len(d.text) && !d.eof {
			return // all of it may be white space: read on
		}
		skip := i - len(bytes.TrimLeftFunc(d.text[:i], unicode.IsSpace))
		d.text = d.text[:copy(d.text, d.text[skip:])]
		d.lead = true
		old, d.heldFrom = 0, 0
	}
	for j := len(d.text); j > old; j-- {
		if !held(d.text[j-1]) {
			d.heldFrom = j
			break
		}
	}
	if d.eof {
		if end := len(bytes.TrimRightFunc(d.text, unicode.IsSpace)); end > 0 {
			d.decode(d.text[:end])
		}
		d.text = d.text[:0] // the rest is the white space at the end
		return
	}
	if cut := d.whole(d.text[:d.heldFrom]); cut > 0 {
		d.decode(d.text[:cut])
		d.off += int64(cut)
		d.text = d.text[:copy(d.text, d.text[cut:])]
		d.heldFrom -= cut
	}
}

// whole is how much of t, text not at its end, decodes by itself: whole
// hex bytes, whole base64 quanta (\r and \n left out of the count).
func (d *decodeReader) whole(t []byte) int {
	if d.format == formatHex {
		return len(t) &^ 1
	}
	chars := len(t) - bytes.Count(t, []byte{'\n'}) - bytes.Count(t, []byte{'\r'})
	i := len(t)
	for chars%4 != 0 {
		i--
		if t[i] != '\n' && t[i] != '\r' {
			chars--
		}
	}
	return i
}

// decode decodes t, text at d.off, into d.out.
func (d *decodeReader) decode(t []byte) {
	if n := len(t)/4*3 + 3; cap(d.outBuf) < n {
		d.outBuf = make([]byte, n) // hex takes half of t; base64 3/4
	}
	switch d.format {
	case formatHex:
		n, err := hex.Decode(d.outBuf[:cap(d.outBuf)], t)
		d.out = d.outBuf[:n]
		if err != nil {
			d.err = decodeError{err}
		}
	case formatBase64:
		if d.padded {
			// As Decode says of the text whole: nothing after padding.
			if i := bytes.IndexFunc(t, func(r rune) bool { return r != '\n' && r != '\r' }); i >= 0 {
				d.err = decodeError{base64.CorruptInputError(d.off + int64(i))}
			}
			return
		}
		n, err := base64.StdEncoding.Decode(d.outBuf[:cap(d.outBuf)], t)
		d.out = d.outBuf[:n]
		if at, ok := err.(base64.CorruptInputError); ok {
			d.err = decodeError{base64.CorruptInputError(d.off + int64(at))}
		} else if err != nil {
			d.err = decodeError{err}
		}
		quanta := (len(t) - bytes.Count(t, []byte{'\n'}) - bytes.Count(t, []byte{'\r'})) / 4
		d.padded = n < 3*quanta
	}
}
