package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeWhole decodes text as put did before it decoded while reading:
// read whole, trimmed, then decoded at once. decodeReader must agree.
func decodeWhole(text []byte, format dataFormat) ([]byte, error) {
	t := bytes.TrimSpace(text)
	v := make([]byte, len(t))
	var n int
	var err error
	if format == formatHex {
		n, err = hex.Decode(v, t)
	} else {
		n, err = base64.StdEncoding.Decode(v, t)
	}
	return v[:n], err
}

// checkDecodeReader decodes text with decodeReader, read through each of
// a few readers (whole, a byte at a time, in pieces of n bytes), and
// fails t if the value or the error is not decodeWhole's.
func checkDecodeReader(t *testing.T, text []byte, format dataFormat) {
	t.Helper()
	want, werr := decodeWhole(text, format)
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(text) },
		"bytes":    func() io.Reader { return iotest.OneByteReader(bytes.NewReader(text)) },
		"halves":   func() io.Reader { return iotest.HalfReader(bytes.NewReader(text)) },
		"with EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(text)) },
		"pieces of 7": func() io.Reader {
			return &pieceReader{r: bytes.NewReader(text), n: 7}
		},
	}
	for name, r := range readers {
		got, err := io.ReadAll(newDecodeReader(r(), format))
		if werr != nil {
			if err == nil || err.Error() != werr.Error() {
				t.Errorf("%s %.40q (%d bytes), read %s: error %v, want %v", format, text, len(text), name, err, werr)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s %.40q (%d bytes), read %s: %d bytes, %v; want %d bytes", format, text, len(text), name, len(got), err, len(want))
		}
	}
}

// pieceReader reads at most n bytes at a time.
type pieceReader struct {
	r io.Reader
	n int
}

func (p *pieceReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }

// TestDecodeReaderAsWhole: put decoding hex or base64 text as it reads
// it gives the value, or the error, that decoding the text whole gave:
// white space around it ignored (Unicode's too), none inside in hex and
// base64's \r and \n; an odd length, a bad byte, padding with data
// after it, a base64 offset counted from the trimmed text's start; and
// so across the pieces it is read and decoded in.
func TestDecodeReaderAsWhole(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3*decodeChunk+17)
	for i := range big {
		big[i] = byte(rnd.Uint32())
	}
	bigHex := hex.EncodeToString(big)
	bigB64 := base64.StdEncoding.EncodeToString(big)
	var wrapped strings.Builder // base64 in lines of 76, as base64(1) writes it
	for i := 0; i < len(bigB64); i += 76 {
		wrapped.WriteString(bigB64[i:min(i+76, len(bigB64))] + "\r\n")
	}
	hexCases := []string{
		"", " ", "\n\n", "00ff", " \n00ff\n\n", "00 ff", "0", "0g", "g0", " 0\n", "000",
		"00\u00a0", "\u00a000\u3000", "00\xff", "\xff00", "00\xc2", "\t\v\f\r 0a",
		bigHex, " " + bigHex + "\n", bigHex[:decodeChunk-1] + " " + bigHex[decodeChunk-1:],
		bigHex[:decodeChunk] + strings.Repeat(" ", decodeChunk+5) + bigHex[decodeChunk:],
		bigHex + strings.Repeat("\n", 2*decodeChunk), strings.Repeat(" ", 2*decodeChunk) + bigHex,
		bigHex[:len(bigHex)-1], bigHex[:100001] + "z" + bigHex[100002:],
	}
	b64Cases := []string{
		"", "QQ==", " QQ==\n", "QQ==QQ==", "QQ==\n\nQQ==", "QQ==\n\n", "QUJD\nREVG", "QUJ\r\nD",
		"QUJ", "Q", "QQ=", "QQ=\n=", "QQ=A", "QUJD REVG", "QUJD\u00a0", "====", "QUJD\xff",
		bigB64, wrapped.String(), " \n" + wrapped.String() + "\n\n",
		bigB64[:decodeChunk-4] + "QQ==" + bigB64[decodeChunk:],
		bigB64[:decodeChunk-4] + "QQ==\n" + bigB64[decodeChunk:],
		bigB64[:100001] + "*" + bigB64[100002:], bigB64[:len(bigB64)-2],
		wrapped.String()[:70000] + " " + wrapped.String()[70000:],
	}
	for _, c := range hexCases {
		checkDecodeReader(t, []byte(c), formatHex)
	}
	for _, c := range b64Cases {
		checkDecodeReader(t, []byte(c), formatBase64)
	}
}

// FuzzDecodeReader: decodeReader agrees with decoding whole for any text.
func FuzzDecodeReader(f *testing.F) {
	for _, s := range []string{"", " 00ff\n", "0g", "QQ==\nQQ==", "QUJD\r\nREVG", " \u00a0QQ==\u3000"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, text []byte, b64 bool) {
		format := formatHex
		if b64 {
			format = formatBase64
		}
		checkDecodeReader(t, text, format)
	})
}
