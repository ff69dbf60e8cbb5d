package page

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// Fuzz targets for every decoder of on-disk bytes. A decoder may return an
// error or a value; it must never panic, and whatever it accepts must
// encode back to the same bytes. The seed corpora under testdata/fuzz are
// real pages and values from a database (written by the root package's
// TestWriteFuzzSeeds); the seeds added here are built with the encoders,
// so they stay valid when the format changes.
//
// The checksum stops almost every mutation at the door, so the meta and
// node targets take a reseal flag: when set, the target recomputes the
// checksum of the mutated bytes first, and the fuzzer explores what lies
// behind it.

const fuzzPageSize = 1024

func FuzzDecodeMeta(f *testing.F) {
	for _, ps := range []int{MinPageSize, 2 * MinPageSize} {
		p := make([]byte, ps)
		EncodeMeta(p, 1, &Meta{PageSize: uint32(ps), Root: 3, RootSum: 7, Freelist: 4, FreelistSum: 9, High: 5, TxID: 41})
		f.Add(p, false)
		f.Add(p[:ps/2], true)
		q := make([]byte, 2*ps)
		EncodeMetaCommit(q, 1, &Meta{PageSize: uint32(ps), Root: 3, RootSum: 7, High: 5, TxID: 41},
			[]CommitRun{{ID: 3, Pages: 1, Sum: 7}, {ID: 4, Pages: 1, Sum: 9}})
		f.Add(q, false)
		d := FreeDelta{Taken: []Extent{{Start: 2, Len: 1}}, Added: []Extent{{Start: 3, Len: 1}}}.Encode()
		r := make([]byte, ps)
		EncodeMetaCommit(r, 0, &Meta{PageSize: uint32(ps), Root: 4, RootSum: 7, Freelist: 2, FreelistSum: 9, High: 5, TxID: 42, FreeDelta: d},
			[]CommitRun{{ID: 4, Pages: 1, Sum: 7}})
		f.Add(r, false)
	}
	f.Fuzz(func(t *testing.T, p []byte, reseal bool) {
		if len(p) > 4*MinPageSize { // longer inputs only slow the fuzzer down
			return
		}
		p = bytes.Clone(p) // a target must not change its input
		if reseal && len(p) >= HeaderSize+12 {
			if ps := int(binary.LittleEndian.Uint32(p[HeaderSize+8:])); ValidPageSize(ps) && ps <= len(p) {
				Seal(p[:ps])
			}
		}
		for _, id := range []ID{0, 1} {
			m, err := DecodeMeta(p, id)
			if err != nil {
				continue
			}
			runs := MetaCommitRuns(p, nil)
			q := make([]byte, m.PageSize)
			EncodeMetaCommit(q, id, &m, runs)
			if v := MetaVersion(p); v < Version {
				// An older page decodes as the current version: version 1
				// as one without a delta, version 2 field for field
				// (version 3 changed no meta field). The encoder writes
				// the current version.
				binary.LittleEndian.PutUint32(q[HeaderSize+4:], v)
				Seal(q)
			}
			if !bytes.Equal(q, p[:m.PageSize]) {
				t.Fatalf("DecodeMeta accepted a page that encodes differently: %+v\ngot  %x\nwant %x", m, p[:m.PageSize], q)
			}
			for _, r := range runs {
				if r.ID < 2 || r.ID >= m.High || r.Pages == 0 || uint64(r.ID)+uint64(r.Pages) > uint64(m.High) {
					t.Fatalf("DecodeMeta accepted a listed run outside [2, %d): %+v", m.High, r)
				}
			}
			// The input as a file: checking the runs must not panic.
			_ = VerifyCommit(p, int(m.PageSize), &m, runs)
			// Nor applying the delta to any list.
			if _, err := DecodeFreeDelta(m, id); err != nil {
				t.Fatalf("DecodeMeta accepted a free list delta that does not decode: %v", err)
			}
			_, _ = ApplyFreeDelta([]Extent{{Start: 2, Len: 3}, {Start: 7, Len: 2}}, m, id)
		}
	})
}

// FuzzNode checks a run with CheckRun, then reads every element with the
// branch or leaf accessors. Whatever CheckRun accepts has exactly one page
// kind, and its header and element table encode back to the same bytes;
// every key and value returned lies inside the run.
func FuzzNode(f *testing.F) {
	for _, leaf := range []bool{false, true} {
		f.Add(buildNode(leaf, 5, 2), false)
		f.Add(buildNode(leaf, 1, 1), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, reseal bool) {
		if len(p) > 4*fuzzPageSize {
			return
		}
		p = bytes.Clone(p) // a target must not change its input
		if reseal && len(p) >= HeaderSize {
			if n := (int(PageOverflow(p)) + 1) * fuzzPageSize; PageOverflow(p) < 4 && n <= len(p) {
				Seal(p[:n])
			}
		}
		if len(p) < HeaderSize {
			_, err := CheckRun(p, 0, fuzzPageSize, FlagBranch|FlagLeaf, 0, true)
			if err == nil {
				t.Fatal("CheckRun accepted a run shorter than a header")
			}
			return
		}
		id := PageID(p)
		for _, verify := range []bool{false, true} {
			n, err := CheckRun(p, id, fuzzPageSize, FlagBranch|FlagLeaf|FlagLarge, PageChecksum(p), verify)
			if err != nil {
				continue
			}
			run := p[:n]
			kind := PageFlags(run)
			if kind != FlagBranch && kind != FlagLeaf && kind != FlagLarge {
				t.Fatalf("CheckRun accepted page kind %#x, not one kind", kind)
			}
			if n%fuzzPageSize != 0 || n != (int(PageOverflow(run))+1)*fuzzPageSize {
				t.Fatalf("CheckRun returned length %d for overflow %d", n, PageOverflow(run))
			}
			q := make([]byte, n)
			PutHeader(q, id, PageTxID(run), kind, PageCount(run), PageOverflow(run))
			copy(q, run[:4]) // the checksum
			if kind == FlagLarge {
				if !bytes.Equal(q[:HeaderSize], run[:HeaderSize]) {
					t.Fatalf("large run header encodes differently:\ngot  %x\nwant %x", run[:HeaderSize], q[:HeaderSize])
				}
				continue
			}
			size := BranchElemSize
			if kind == FlagLeaf {
				size = LeafElemSize
			}
			count, err := CheckElems(run, id, size)
			if err != nil {
				continue
			}
			for i := 0; i < count; i++ {
				binary.LittleEndian.PutUint64(q[HeaderSize+i*HintSize:], Hint(run, i))
				e := HeaderSize + count*HintSize + i*size
				if kind == FlagLeaf {
					k, _ := LeafKey(run, i)
					flags, v, ok := LeafValue(run, i)
					inside(t, run, k)
					inside(t, run, v)
					// The flags decode only with the value: an element whose
					// value lies outside the page reports !ok and no flags,
					// so re-encode its stored ones.
					raw := binary.LittleEndian.Uint32(run[e:])
					if ok && flags != raw {
						t.Fatalf("element %d: LeafValue gave flags %#x, the element holds %#x", i, flags, raw)
					}
					if !ok && (flags != 0 || v != nil) {
						t.Fatalf("element %d: LeafValue gave flags %#x and %d bytes with !ok", i, flags, len(v))
					}
					koff := binary.LittleEndian.Uint32(run[e+4:])
					PutLeafElem(q, i, raw, int(koff), int(binary.LittleEndian.Uint32(run[e+8:])), int(binary.LittleEndian.Uint32(run[e+12:])))
					continue
				}
				k, _ := BranchKey(run, i)
				inside(t, run, k)
				child, sum := BranchChild(run, i)
				PutBranchElem(q, i, child, sum, int(binary.LittleEndian.Uint32(run[e+12:])), int(binary.LittleEndian.Uint32(run[e+16:])))
			}
			end := HeaderSize + count*(HintSize+size)
			if !bytes.Equal(q[:end], run[:end]) {
				t.Fatalf("%s page header and elements encode differently:\ngot  %x\nwant %x", kind, run[:end], q[:end])
			}
		}
	})
}

// inside fails unless b is empty or lies within run, past its header.
func inside(t *testing.T, run, b []byte) {
	t.Helper()
	if len(b) == 0 {
		return
	}
	start := int(uintptr(unsafe.Pointer(&b[0])) - uintptr(unsafe.Pointer(&run[0])))
	if start < HeaderSize || start+len(b) > len(run) {
		t.Fatalf("accessor returned bytes [%d, %d) outside the run of %d", start, start+len(b), len(run))
	}
}

// buildNode encodes a branch or leaf of count elements as btree does.
func buildNode(leaf bool, count, pages int) []byte {
	run := make([]byte, pages*fuzzPageSize)
	flags, size := FlagBranch, BranchElemSize
	if leaf {
		flags, size = FlagLeaf, LeafElemSize
	}
	PutHeader(run, 9, 3, flags, count, uint32(pages-1))
	off := HeaderSize + count*(HintSize+size)
	for i := 0; i < count; i++ {
		key := []byte{'k', byte('a' + i)}
		PutHint(run, i, key)
		if leaf {
			val := bytes.Repeat([]byte{byte(i)}, i*3)
			PutLeafElem(run, i, 0, off, len(key), len(val))
			off += copy(run[off:], key)
			off += copy(run[off:], val)
		} else {
			PutBranchElem(run, i, ID(20+i), uint32(i), off, len(key))
			off += copy(run[off:], key)
		}
	}
	Seal(run)
	return run
}

// FuzzDecodeBucketHeader decodes a bucket value, an inline bucket's leaf
// included: what it accepts encodes back to the same bytes (the leaf
// re-encoded from its keys and values as btree lays one out), and every
// key and value of an inline leaf lies inside it.
func FuzzDecodeBucketHeader(f *testing.F) {
	b := make([]byte, BucketHeaderSize)
	BucketHeader{Root: 12, RootSum: 0xdeadbeef, Sequence: 99}.Encode(b)
	f.Add(b)
	for _, count := range []int{1, 3, 9} {
		f.Add(inlineValue(7, buildInline(count)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// ReadBucketHeader accepts what DecodeBucketHeader does, and
		// more; what it alone accepts has a header and count a leaf
		// page's read accepts, and every element an accessor returns
		// lies inside the leaf.
		rh, rerr := ReadBucketHeader(b, 5)
		if rerr != nil && !errors.Is(rerr, ErrCorrupt) {
			t.Fatalf("ReadBucketHeader: %v, not ErrCorrupt", rerr)
		}
		if rerr == nil && rh.Inline {
			leaf := BucketLeaf(b)
			count, err := CheckElems(leaf, 5, LeafElemSize)
			if err != nil || PageFlags(leaf) != FlagLeaf {
				t.Fatalf("ReadBucketHeader accepted a leaf whose header a read refuses: %v, flags %v", err, PageFlags(leaf))
			}
			for i := range count {
				if _, k, v, ok := LeafElem(leaf, count, i); ok {
					inside(t, leaf, k)
					inside(t, leaf, v)
				}
			}
		}
		h, err := DecodeBucketHeader(b, 5)
		if err != nil {
			return
		}
		if rerr != nil || rh != h {
			t.Fatalf("DecodeBucketHeader accepted %+v, ReadBucketHeader %+v, %v", h, rh, rerr)
		}
		q := make([]byte, BucketHeaderSize)
		h.Encode(q)
		if h.Inline {
			leaf := BucketLeaf(b)
			var keys, vals [][]byte
			for i := range PageCount(leaf) {
				flags, k, v, ok := LeafElem(leaf, PageCount(leaf), i)
				if !ok || flags != 0 {
					t.Fatalf("element %d of an accepted inline leaf: ok %v, flags %#x", i, ok, flags)
				}
				inside(t, leaf, k)
				inside(t, leaf, v)
				keys, vals = append(keys, k), append(vals, v)
			}
			q = append(q, encodeInline(keys, vals)...)
		}
		if !bytes.Equal(q, b) {
			t.Fatalf("DecodeBucketHeader accepted %x, which encodes as %x", b, q)
		}
	})
}

// encodeInline lays keys and values out as an inline leaf, as btree
// encodes one (then SealInline).
func encodeInline(keys, vals [][]byte) []byte {
	n := HeaderSize + len(keys)*(HintSize+LeafElemSize)
	for i := range keys {
		n += len(keys[i]) + len(vals[i])
	}
	p := make([]byte, n)
	PutHeader(p, 0, 0, FlagLeaf, len(keys), 0)
	off := HeaderSize + len(keys)*(HintSize+LeafElemSize)
	for i := range keys {
		PutHint(p, i, keys[i])
		PutLeafElem(p, i, 0, off, len(keys[i]), len(vals[i]))
		off += copy(p[off:], keys[i])
		off += copy(p[off:], vals[i])
	}
	SealInline(p)
	return p
}

// buildInline is an inline leaf of count elements.
func buildInline(count int) []byte {
	var keys, vals [][]byte
	for i := range count {
		keys = append(keys, []byte{'k', byte('a' + i)})
		vals = append(vals, bytes.Repeat([]byte{byte(i)}, i*3))
	}
	return encodeInline(keys, vals)
}

// inlineValue is the bucket value of an inline bucket with leaf.
func inlineValue(seq uint64, leaf []byte) []byte {
	b := make([]byte, BucketHeaderSize)
	BucketHeader{Sequence: seq, Inline: true}.Encode(b)
	return append(b, leaf...)
}

func FuzzDecodeLargeRef(f *testing.F) {
	b := make([]byte, LargeRefSize)
	LargeRef{Page: 40, Size: 5000, Sum: 77}.Encode(b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeLargeRef(b, 5)
		if err != nil {
			return
		}
		q := make([]byte, LargeRefSize)
		r.Encode(q)
		if !bytes.Equal(q, b) {
			t.Fatalf("DecodeLargeRef accepted %x, which encodes as %x", b, q)
		}
		// LargeValue stays inside whatever run it is given.
		run := make([]byte, fuzzPageSize)
		if v, err := LargeValue(run, r); err == nil && len(v) != int(r.Size) {
			t.Fatalf("LargeValue returned %d bytes for size %d", len(v), r.Size)
		}
	})
}

// FuzzDecodeFreelist decodes a free-extent run body. What it accepts is
// sorted, apart and inside [2, high), and encodes back to the same bytes,
// the rest of the run zero.
func FuzzDecodeFreelist(f *testing.F) {
	exts := []Extent{{2, 3}, {7, 1}, {10, 20}}
	body := make([]byte, fuzzPageSize-HeaderSize)
	EncodeFreelist(body, exts)
	f.Add(body, uint64(40))
	f.Add(body[:FreelistSize(exts)], uint64(6))
	f.Fuzz(func(t *testing.T, body []byte, high uint64) {
		if len(body) > 1<<20 {
			return
		}
		exts, err := DecodeFreelist(body, 9, ID(high))
		if err != nil {
			return
		}
		next := ID(2)
		for i, e := range exts {
			if e.Start < next || (i > 0 && e.Start == next) || e.Len == 0 || uint64(e.Start)+e.Len > high {
				t.Fatalf("extent %d [%d, +%d) after %d, high %d: not sorted, apart and inside", i, e.Start, e.Len, next, high)
			}
			next = e.Start + ID(e.Len)
		}
		q := make([]byte, len(body))
		EncodeFreelist(q, exts)
		if !bytes.Equal(q, body) {
			t.Fatalf("DecodeFreelist accepted a body that encodes differently:\ngot  %x\nwant %x", body, q)
		}
	})
}
