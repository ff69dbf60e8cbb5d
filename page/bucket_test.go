package page

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestDecodeInlineBucket: an inline bucket's value decodes with its leaf
// checked as strictly as a leaf page and Check check one; each damage is
// ErrCorrupt naming the page holding the value, never a panic.
func TestDecodeInlineBucket(t *testing.T) {
	good := inlineValue(3, buildInline(3))
	h, err := DecodeBucketHeader(good, 5)
	if err != nil || !h.Inline || h.Sequence != 3 || h.Root != 0 {
		t.Fatalf("DecodeBucketHeader(inline) = %+v, %v", h, err)
	}
	if leaf := BucketLeaf(good); PageCount(leaf) != 3 || PageFlags(leaf) != FlagLeaf {
		t.Fatalf("BucketLeaf: count %d, flags %v", PageCount(leaf), PageFlags(leaf))
	}
	const hs = BucketHeaderSize
	elem := func(b []byte, i int) []byte { // element i of the leaf in value b
		return b[hs+HeaderSize+PageCount(b[hs:])*HintSize+i*LeafElemSize:]
	}
	for _, tc := range []struct {
		name, want string
		damage     func(b []byte) []byte
	}{
		{"root set", "inline bucket root", func(b []byte) []byte { b[0] = 9; return b }},
		{"root checksum set", "inline bucket root", func(b []byte) []byte { b[8] = 1; return b }},
		{"unknown flag", "bucket header flags", func(b []byte) []byte { b[12] = 3; return b }},
		{"no leaf", "inline bucket leaf size", func(b []byte) []byte { return b[:hs] }},
		{"short leaf", "inline bucket leaf size", func(b []byte) []byte { return b[:hs+HeaderSize-1] }},
		{"plain header with a leaf", "bucket header size", func(b []byte) []byte { b[12] = 0; return b }},
		{"branch", "inline bucket leaf flags", func(b []byte) []byte { b[hs+offFlags] = byte(FlagBranch); return b }},
		{"checksum", "inline bucket leaf header", func(b []byte) []byte { b[hs] = 1; return b }},
		{"page id", "inline bucket leaf header", func(b []byte) []byte { b[hs+offID] = 1; return b }},
		{"txid", "inline bucket leaf header", func(b []byte) []byte { b[hs+offTxID] = 1; return b }},
		{"overflow", "inline bucket leaf header", func(b []byte) []byte { b[hs+offOverflow] = 1; return b }},
		{"no elements", "element count", func(b []byte) []byte { b[hs+offCount] = 0; return b }},
		{"count past the end", "element count", func(b []byte) []byte { b[hs+offCount] = 200; return b }},
		{"nested bucket", "flags", func(b []byte) []byte { elem(b, 1)[0] = byte(LeafBucket); return b }},
		{"large value", "flags", func(b []byte) []byte { elem(b, 2)[0] = byte(LeafLarge); return b }},
		{"key offset past the end", "element 1", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(elem(b, 1)[4:], 1<<31)
			return b
		}},
		{"value size past the end", "element 2", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(elem(b, 2)[12:], 1<<32-1)
			return b
		}},
		{"key order", "key order at element 1", func(b []byte) []byte {
			k := binary.LittleEndian.Uint32(elem(b, 1)[4:])
			b[hs+int(k)+1] = 'a' // "ka" after "ka"
			return b
		}},
		{"hint", "key hint 0", func(b []byte) []byte { b[hs+HeaderSize] ^= 1; return b }},
		{"padding", "inline bucket leaf size", func(b []byte) []byte { return append(b, 0) }},
		{"truncated", "element 2", func(b []byte) []byte { return b[:len(b)-1] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(append([]byte(nil), good...))
			_, err := DecodeBucketHeader(b, 42)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Page != 42 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeBucketHeader: %v; want ErrCorrupt naming page 42 and %q", err, tc.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeBucketHeader(good, 5) }); n != 0 {
		t.Errorf("DecodeBucketHeader(inline): %v allocs, want 0", n)
	}
}
