package dumpfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// rec is one item of a dump, owned (the reader's slices are copied).
type rec struct {
	Bucket *Bucket
	K, V   []byte
}

func (r rec) String() string {
	if r.Bucket != nil {
		return fmt.Sprintf("bucket %q seq=%d/%v", EncodePath(r.Bucket.Path), r.Bucket.Sequence, r.Bucket.HasSequence)
	}
	return fmt.Sprintf("%q=%q", r.K, r.V)
}

// readAll reads a whole dump.
func readAll(src []byte) ([]rec, *Reader, error) {
	rd, err := NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, nil, err
	}
	defer rd.Close()
	var out []rec
	for {
		it, err := rd.Next()
		if err == io.EOF {
			return out, rd, nil
		}
		if err != nil {
			return out, rd, err
		}
		if it.Bucket != nil {
			b := *it.Bucket
			out = append(out, rec{Bucket: &b})
			continue
		}
		out = append(out, rec{K: bytes.Clone(it.Key), V: bytes.Clone(it.Value)})
	}
}

func writeAll(t testing.TB, f Format, opts Options, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Bucket != nil {
			err = w.BeginBucket(*r.Bucket)
		} else {
			err = w.Put(r.K, r.V)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sameRecs compares dumps as loaded: a block without a sequence reads as
// one with sequence 0 unless want says it has one.
func sameRecs(t *testing.T, got, want []rec) {
	t.Helper()
	norm := func(rs []rec) []string {
		var s []string
		for _, r := range rs {
			if r.Bucket != nil {
				b := *r.Bucket
				b.HasSequence = b.HasSequence && b.Sequence != 0
				r.Bucket = &b
			}
			s = append(s, r.String())
		}
		return s
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("items differ:\n got %d: %v\nwant %d: %v", len(g), clipList(g), len(w), clipList(w))
	}
}

func clipList(s []string) []string {
	if len(s) > 20 {
		return append(s[:20:20], "...")
	}
	return s
}

// randomRecs makes blocks with nested paths, awkward names and bytes of
// every value, keys in order within each block.
func randomRecs(rng *rand.Rand, blocks, maxPairs int) []rec {
	names := [][]byte{[]byte("a"), []byte("b/c"), []byte(`back\slash`), {0, '\n', 0xff}, []byte("ünï"), []byte(" sp ")}
	var out []rec
	for i := range blocks {
		var path [][]byte
		for range 1 + rng.IntN(3) {
			path = append(path, names[rng.IntN(len(names))])
		}
		path = append(path, fmt.Appendf(nil, "b%d", i))
		b := &Bucket{Path: path}
		if rng.IntN(2) == 0 {
			b.Sequence, b.HasSequence = rng.Uint64N(1<<40), true
		}
		out = append(out, rec{Bucket: b})
		n := rng.IntN(maxPairs + 1)
		for j := range n {
			k := fmt.Appendf(nil, "k%06d", j)
			if rng.IntN(4) == 0 {
				k = append(k, '\\', '\\', 0, '\n', '\r', 0x7f, 0x80, '\\')
			}
			v := make([]byte, rng.IntN(40))
			for x := range v {
				v[x] = byte(rng.UintN(256))
			}
			if rng.IntN(10) == 0 {
				v = bytes.Repeat([]byte(`\x`), rng.IntN(100))
			}
			out = append(out, rec{K: k, V: v})
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := randomRecs(rng, 30, 50)
	// A large value gets a binary frame of its own.
	recs = append(recs, rec{Bucket: &Bucket{Path: [][]byte{[]byte("big")}}},
		rec{K: []byte("v"), V: bytes.Repeat([]byte{1, 2, 3}, dataFrameSize)}, rec{K: []byte("w"), V: nil})
	for _, f := range []Format{Text, Print, Binary} {
		for _, z := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/zstd=%v", f, z), func(t *testing.T) {
				data := writeAll(t, f, Options{PageSize: 4096, Zstd: z}, recs)
				got, rd, err := readAll(data)
				if err != nil {
					t.Fatal(err)
				}
				sameRecs(t, got, recs)
				if rd.Format() != f || rd.Compressed() != z || rd.PageSize() != 4096 {
					t.Errorf("detected %v compressed=%v page size %d", rd.Format(), rd.Compressed(), rd.PageSize())
				}
			})
		}
	}
}

func TestEmptyDump(t *testing.T) {
	for _, f := range []Format{Text, Print, Binary} {
		got, _, err := readAll(writeAll(t, f, Options{}, nil))
		if err != nil || len(got) != 0 {
			t.Errorf("%v: %v, %v", f, got, err)
		}
	}
	if got, _, err := readAll(nil); err != nil || len(got) != 0 {
		t.Errorf("empty input: %v, %v", got, err)
	}
}

// TestTextGolden pins the text formats byte for byte, from the
// folio_dump=1 line every folio text dump opens with.
func TestTextGolden(t *testing.T) {
	recs := []rec{
		{Bucket: &Bucket{Path: [][]byte{[]byte("users"), []byte("a/b")}, Sequence: 7, HasSequence: true}},
		{K: []byte("k\\1"), V: []byte{0, 'x', '\n'}},
		{K: []byte("e"), V: nil},
		// A sequence of 0 is written: loaded over a bucket with another,
		// it must set 0 (TestDumpLoadSequenceZero).
		{Bucket: &Bucket{Path: [][]byte{[]byte("z")}, HasSequence: true}},
		{Bucket: &Bucket{Path: [][]byte{[]byte("zz")}}}, // none known: none written
	}
	want := map[Format]string{
		Text: "folio_dump=1\nVERSION=3\nformat=bytevalue\ndatabase=users/a\\/b\ntype=btree\nfolio_sequence=7\nfolio_pagesize=1024\nHEADER=END\n" +
			" 6b5c31\n 00780a\n 65\n \nDATA=END\n" +
			"VERSION=3\nformat=bytevalue\ndatabase=z\ntype=btree\nfolio_sequence=0\nHEADER=END\nDATA=END\n" +
			"VERSION=3\nformat=bytevalue\ndatabase=zz\ntype=btree\nHEADER=END\nDATA=END\n",
		Print: "folio_dump=1\nVERSION=3\nformat=print\ndatabase=users/a\\/b\ntype=btree\nfolio_sequence=7\nfolio_pagesize=1024\nHEADER=END\n" +
			" k\\5c1\n \\00x\\0a\n e\n \nDATA=END\n" +
			"VERSION=3\nformat=print\ndatabase=z\ntype=btree\nfolio_sequence=0\nHEADER=END\nDATA=END\n" +
			"VERSION=3\nformat=print\ndatabase=zz\ntype=btree\nHEADER=END\nDATA=END\n",
	}
	for f, w := range want {
		if got := string(writeAll(t, f, Options{PageSize: 1024}, recs)); got != w {
			t.Errorf("%v:\n got %q\nwant %q", f, got, w)
		}
	}
}

// TestReadMdbDump reads what mdb_dump writes, extras and all.
func TestReadMdbDump(t *testing.T) {
	in := "VERSION=3\nformat=print\ndatabase=x\ntype=btree\nmapsize=1048576\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n" +
		" a\\\\b\\0a\n v\\5C\\ff\n" + " plain\n \nDATA=END\n" +
		"VERSION=3\nformat=bytevalue\ndatabase=y\ntype=btree\nmapaddr=0x7f00\nHEADER=END\n 4142\n 00FF\nDATA=END"
	got, rd, err := readAll([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	sameRecs(t, got, []rec{
		{Bucket: &Bucket{Path: [][]byte{[]byte("x")}}},
		{K: []byte("a\\b\n"), V: []byte("v\\\xff")},
		{K: []byte("plain"), V: []byte{}},
		{Bucket: &Bucket{Path: [][]byte{[]byte("y")}}},
		{K: []byte("AB"), V: []byte{0, 0xff}},
	})
	if rd.Format() != Print || rd.PageSize() != 0 {
		t.Errorf("format %v page size %d", rd.Format(), rd.PageSize())
	}
}

func TestTextErrors(t *testing.T) {
	const hdr = "VERSION=3\nformat=bytevalue\ndatabase=a\ntype=btree\nHEADER=END\n"
	for _, tc := range []struct {
		name, in string
		line     int64
		want     string
	}{
		{"no end", hdr + " 61\n 62\n", 7, "no DATA=END"},
		{"no value", hdr + " 61\nDATA=END\n", 7, "want the value line"},
		{"key then eof", hdr + " 61\n", 6, "has no value line"},
		{"odd hex", hdr + " 616\n 62\nDATA=END\n", 6, "odd number of hex digits"},
		{"bad hex", hdr + " 6g\n 62\nDATA=END\n", 6, `"6g" is not a hex byte`},
		{"bad print escape", strings.Replace(hdr, "bytevalue", "print", 1) + " a\\zz\n b\nDATA=END\n", 6, "bad escape"},
		{"short print escape", strings.Replace(hdr, "bytevalue", "print", 1) + " a\\4\n b\nDATA=END\n", 6, "incomplete escape"},
		{"garbage data line", hdr + "xyz\n", 6, "want a key line"},
		{"no header end", "VERSION=3\nformat=print\n", 2, "no HEADER=END"},
		{"version", "VERSION=4\n", 1, "unsupported VERSION"},
		{"format", "format=base64\n", 1, "unsupported format"},
		{"type", "type=hash\n", 1, "unsupported type"},
		{"dups", "VERSION=3\nduplicates=1\nHEADER=END\n", 2, "duplicate keys"},
		{"no equals", "VERSION=3\nhello\n", 2, "want a header line"},
		{"data in header", "VERSION=3\n 61\n", 2, "before HEADER=END"},
		{"bad name", "database=a//b\nHEADER=END\nDATA=END\n", 1, "empty bucket name"},
		{"bad sequence", "folio_sequence=-1\n", 1, "bad folio_sequence"},
		{"after end", hdr + "DATA=END\n 61\n", 7, "outside a block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll([]byte(tc.in))
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want a SyntaxError", err)
			}
			if se.Line != tc.line || !strings.Contains(se.Msg, tc.want) || !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", tc.line)) {
				t.Errorf("got %q, want line %d and %q", err, tc.line, tc.want)
			}
		})
	}
}

func TestBinaryDamage(t *testing.T) {
	recs := randomRecs(rand.New(rand.NewPCG(3, 4)), 5, 30)
	data := writeAll(t, Binary, Options{}, recs)
	// Every truncation is an error (never a panic, never a silent success).
	for n := 0; n < len(data); n++ {
		if _, _, err := readAll(data[:n]); err == nil && n > 0 {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(data))
		}
	}
	// Every flipped byte after the magic is caught.
	for i := len(binaryMagic); i < len(data); i++ {
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		_, _, err := readAll(bad)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("byte %d flipped: error %v", i, err)
		}
		if se.Offset > int64(i) {
			t.Fatalf("byte %d flipped: reported at offset %d, after the damage", i, se.Offset)
		}
	}
	// Trailing bytes.
	if _, _, err := readAll(append(bytes.Clone(data), 0)); err == nil || !strings.Contains(err.Error(), "after the end frame") {
		t.Errorf("trailing byte: %v", err)
	}
}

// TestBinaryLostFrame drops a whole, valid data frame: the end frame's
// counts notice.
func TestBinaryLostFrame(t *testing.T) {
	recs := []rec{{Bucket: &Bucket{Path: [][]byte{[]byte("a")}}}}
	for i := range 3000 {
		recs = append(recs, rec{K: fmt.Appendf(nil, "%08d", i), V: bytes.Repeat([]byte("v"), 100)})
	}
	data := writeAll(t, Binary, Options{}, recs)
	// Find the second data frame by reading frames.
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	d := rd.dec.(*binaryDecoder)
	var starts []int64
	for {
		kind, _, err := d.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, d.frameStart)
		if kind == kindEnd {
			break
		}
	}
	if len(starts) < 4 {
		t.Fatalf("only %d frames", len(starts))
	}
	cut := append(bytes.Clone(data[:starts[2]]), data[starts[3]:]...)
	_, _, err = readAll(cut)
	if err == nil || !strings.Contains(err.Error(), "frames lost") {
		t.Fatalf("dropped frame: %v", err)
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"gzip", "\x1f\x8b\x08\x00", "gzip-compressed"},
		{"garbage", "\x00\x01\x02", "not a dump"},
		{"bad zstd", "\x28\xb5\x2f\xfd\x00\x00\x00\x00\x00\x00", "read"},
		{"binary magic only", "FOLIODMP", "cut short"},
	} {
		_, _, err := readAll([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		path [][]byte
		enc  string
	}{
		{[][]byte{[]byte("a")}, "a"},
		{[][]byte{[]byte("a"), []byte("b")}, "a/b"},
		{[][]byte{[]byte("a/b"), []byte(`c\d`)}, `a\/b/c\\d`},
		{[][]byte{{0, '\n', 0xff}, []byte("ü x")}, `\x00\x0a\xff/ü x`},
	} {
		if got := EncodePath(tc.path); got != tc.enc {
			t.Errorf("EncodePath(%q) = %q, want %q", tc.path, got, tc.enc)
		}
		got, err := DecodePath(tc.enc)
		if err != nil || !reflect.DeepEqual(got, tc.path) {
			t.Errorf("DecodePath(%q) = %q, %v", tc.enc, got, err)
		}
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", `a\`, `a\q`, `a\x1`, `a\xzz`} {
		if _, err := DecodePath(bad); err == nil {
			t.Errorf("DecodePath(%q): no error", bad)
		}
	}
}

func TestDigest(t *testing.T) {
	recs := randomRecs(rand.New(rand.NewPCG(5, 6)), 10, 20)
	sum := func(rs []rec) *Digest {
		d := NewDigest()
		for _, r := range rs {
			if r.Bucket != nil {
				d.BeginBucket(*r.Bucket)
			} else {
				d.Put(r.K, r.V)
			}
		}
		return d
	}
	a, b := sum(recs), sum(recs)
	if a.Sum() != b.Sum() || a.Keys != b.Keys || !reflect.DeepEqual(a.Counts, b.Counts) {
		t.Fatal("equal data, different digests")
	}
	for i := range recs {
		changed := slicesClone(recs)
		if changed[i].Bucket != nil {
			bk := *changed[i].Bucket
			bk.Sequence++
			changed[i].Bucket = &bk
		} else {
			changed[i].V = append(bytes.Clone(changed[i].V), 0)
		}
		if sum(changed).Sum() == a.Sum() {
			t.Fatalf("changing item %d kept the digest", i)
		}
	}
}

func slicesClone(r []rec) []rec { return append([]rec(nil), r...) }

// TestLimitsAreFolios: the line bounds derive from folio's key and value
// limits, so every dump of a folio database loads.
func TestLimitsAreFolios(t *testing.T) {
	if maxKeySize != folio.MaxKeySize || maxValueSize != folio.MaxValueSize {
		t.Fatalf("maxKeySize %d, maxValueSize %d; folio's are %d and %d", maxKeySize, maxValueSize, folio.MaxKeySize, folio.MaxValueSize)
	}
}

// countReader counts what is read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestLongLines: a line longer than any valid line of its kind fails, at
// its line, as soon as that much is read, not after reading all of it
// into memory; the longest valid keys still load, in both text formats.
func TestLongLines(t *testing.T) {
	const hdr = "VERSION=3\nformat=bytevalue\ndatabase=a\ntype=btree\nHEADER=END\n"
	const huge = 64 << 20 // of a line with no end in sight
	for _, tc := range []struct {
		name, head string
		fill       string
		want       string
	}{
		{"header", "VERSION=3\nmapsize=", "1", "line 2: a header line longer than 1048576 bytes"},
		{"key", hdr + " ", "0", "line 6: a key line longer than 65537 bytes"},
		{"print key", strings.Replace(hdr, "bytevalue", "print", 1) + " ", "k", "line 6: a key line longer than 98305 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &countReader{r: io.MultiReader(strings.NewReader(tc.head), io.LimitReader(repeatReader(tc.fill[0]), huge))}
			rd, err := NewReader(src)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			for err == nil {
				_, err = rd.Next()
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if src.n > 4<<20 {
				t.Errorf("read %d bytes before failing", src.n)
			}
		})
	}
	longest := bytes.Repeat([]byte{0}, maxKeySize) // 3 characters a byte in print
	recs := []rec{{Bucket: &Bucket{Path: [][]byte{bytes.Repeat([]byte{1}, maxKeySize)}}}, {K: longest, V: []byte("v")}}
	for _, f := range []Format{Text, Print} {
		got, _, err := readAll(writeAll(t, f, Options{}, recs))
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		sameRecs(t, got, recs)
	}
}

// repeatReader reads as an endless run of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestAbort: a dump aborted part way reads as cut short in every format,
// compressed or not, whether or not a block was begun: never as a
// complete dump of the part written.
func TestAbort(t *testing.T) {
	for _, f := range []Format{Text, Print, Binary} {
		for _, z := range []bool{false, true} {
			for _, recs := range [][]rec{
				nil,
				{{Bucket: &Bucket{Path: [][]byte{[]byte("a")}}}},
				{{Bucket: &Bucket{Path: [][]byte{[]byte("a")}}}, {K: []byte("k"), V: []byte("v")}},
			} {
				var buf bytes.Buffer
				w, err := NewWriter(&buf, f, Options{Zstd: z})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if r.Bucket != nil {
						err = w.BeginBucket(*r.Bucket)
					} else {
						err = w.Put(r.K, r.V)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				w.Abort()
				got, _, err := readAll(buf.Bytes())
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "cut short") && !strings.Contains(err.Error(), "unexpected end of input") {
					t.Errorf("%v zstd=%v, %d items: read %d items, err %v; want a dump cut short", f, z, len(recs), len(got), err)
				}
			}
		}
	}
}

// TestLongBlockName: a text dump never holds a header line longer than
// its reader takes: the writer refuses a block name that would make one
// (buckets nest without limit), and the binary format carries it.
func TestLongBlockName(t *testing.T) {
	var path [][]byte
	for i := range 9 { // 9 names of 32000 bytes, 4 characters each
		path = append(path, bytes.Repeat([]byte{byte(0x80 + i)}, 32000))
	}
	recs := []rec{{Bucket: &Bucket{Path: path}}, {K: []byte("k"), V: []byte("v")}}
	for _, f := range []Format{Text, Print} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.BeginBucket(*recs[0].Bucket); err == nil || !strings.Contains(err.Error(), "use the binary format") {
			t.Errorf("%v: BeginBucket of a %d-name path: %v", f, len(path), err)
		}
		w.Abort()
	}
	got, _, err := readAll(writeAll(t, Binary, Options{}, recs))
	if err != nil {
		t.Fatal(err)
	}
	sameRecs(t, got, recs)
	// The longest name that fits still loads.
	name := bytes.Repeat([]byte{0xfe}, (maxHeaderLine-len("database="))/4)
	recs[0].Bucket.Path = [][]byte{name}
	for _, f := range []Format{Text, Print} {
		got, _, err := readAll(writeAll(t, f, Options{}, recs))
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		sameRecs(t, got, recs)
	}
}
