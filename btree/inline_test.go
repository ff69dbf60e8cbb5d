package btree

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/foliodb/folio/page"
)

// reopenInline is the tree a parent's bucket value would give back after
// tr spilled: its inline leaf (copied, as the parent stores it) or root.
func reopenInline(t *testing.T, tr *Tree, m *memPages) *Tree {
	t.Helper()
	if leaf := tr.Inline(); leaf != nil {
		if root, _ := tr.Root(); root != 0 {
			t.Fatalf("an inline tree with root page %d", root)
		}
		if err := page.CheckInlineLeaf(leaf, 9); err != nil {
			t.Fatalf("Spill wrote an inline leaf its decoder refuses: %v", err)
		}
		n := NewInline(m, append([]byte(nil), leaf...), 9)
		n.Inlinable = true
		return n
	}
	root, sum := tr.Root()
	n := New(m, root, sum)
	n.Inlinable = true
	return n
}

// TestTreeInline: an Inlinable tree of one small leaf of plain values
// spills inline (no page written, its old page freed) and reads back
// through Get, a cursor and Walk (which calls Page for none); a tree
// that grows past page.InlineMax, or holds a bucket or a large value,
// spills to pages; FreeAll of an inline tree frees nothing.
func TestTreeInline(t *testing.T) {
	const ps = 1024
	m := newMemPages(ps)
	tr := New(m, 0, 0)
	tr.Inlinable = true
	put := func(k string, v []byte, flags uint32) {
		t.Helper()
		if err := tr.Put([]byte(k), v, flags, nil); err != nil {
			t.Fatal(err)
		}
	}
	step := func(what string, wantInline bool, wantKeys int) {
		t.Helper()
		commitTree(t, tr, m)
		if got := tr.Inline() != nil; got != wantInline {
			t.Fatalf("%s: inline %v, want %v", what, got, wantInline)
		}
		tr = reopenInline(t, tr, m)
		got, pages := walkAll(t, tr)
		if len(got) != wantKeys || (wantInline && pages != 0) {
			t.Fatalf("%s: %d keys over %d pages, want %d keys", what, len(got), pages, wantKeys)
		}
		for k, v := range got {
			if g, _, found, err := tr.Get([]byte(k)); err != nil || !found || string(g) != v {
				t.Fatalf("%s: Get(%q) = %q, %v, %v", what, k, g, found, err)
			}
		}
	}
	put("a", []byte("1"), 0)
	step("one key", true, 1)
	if len(m.dirty) != 0 || m.high != 2 {
		t.Fatalf("an inline spill allocated pages: high %d", m.high)
	}
	for i := range 20 {
		put(fmt.Sprintf("k%02d", i), []byte("0123456789"), 0)
	}
	step("past the bound", false, 21)
	for i := range 20 {
		if _, err := tr.Delete([]byte(fmt.Sprintf("k%02d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	freed := len(m.free)
	step("back under it", true, 1)
	if len(m.free) <= freed {
		t.Fatal("the tree's page was not freed when it went inline")
	}
	put("b", make([]byte, page.BucketHeaderSize), page.LeafBucket)
	step("a bucket", false, 2)
	if _, err := tr.Delete([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	step("the bucket gone", true, 1)
	put("large", make([]byte, LargeThreshold(ps)+1), 0)
	step("a large value", false, 2)
	if _, err := tr.Delete([]byte("large"), nil); err != nil {
		t.Fatal(err)
	}
	step("the large value gone", true, 1)
	// Many leaves, merged back into one small enough (Rebalance).
	for i := range 300 {
		put(fmt.Sprintf("m%03d", i), []byte("0123456789"), 0)
	}
	step("many leaves", false, 301)
	for i := range 299 {
		if _, err := tr.Delete([]byte(fmt.Sprintf("m%03d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	step("merged into one", true, 2)
	before := len(m.pending)
	if err := tr.FreeAll(nil, nil); err != nil || len(m.pending) != before || tr.Inline() != nil {
		t.Fatalf("FreeAll of an inline tree: %v, %d pages freed, inline %v", err, len(m.pending)-before, tr.Inline() != nil)
	}
	// Not Inlinable (the bucket directory): one small leaf gets a page.
	tr = New(m, 0, 0)
	put("a", []byte("1"), 0)
	commitTree(t, tr, m)
	if root, _ := tr.Root(); tr.Inline() != nil || root == 0 {
		t.Fatalf("a tree not Inlinable went inline (root %d)", root)
	}
}

// FuzzTreeOpsInline is FuzzTreeOps for an Inlinable tree with values
// small enough to go inline: each commit spills it, inline or not, and
// an odd key byte reopens it from what its parent would store (the
// inline leaf copied, or the root), as the next transaction would.
func FuzzTreeOpsInline(f *testing.F) {
	f.Add([]byte("\x00\x01\x10\x00\x02\x20\x06\x01\x00\x03\x01\x00\x06\x00\x00"))
	f.Add(bytes.Repeat([]byte("\x00\x07\x09\x06\x01\x00\x05\x00\x05\x06\x03\x00\x01\x35\x50\x06\x00\x00"), 10))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*2000 {
			return
		}
		m := newMemPages(1024)
		tr := New(m, 0, 0)
		tr.Inlinable = true
		model := map[string]string{}
		key := func(b byte) string { return fmt.Sprintf("%03d", b%24) }
		for i := 0; i+3 <= len(ops); i += 3 {
			op, k, n := ops[i], ops[i+1], int(ops[i+2])
			switch op % 8 {
			case 0, 1, 2: // put; a few sizes reach past the out-of-line line
				size := n % 64
				if n > 250 {
					size = n * 2
				}
				v := bytes.Repeat([]byte{k}, size)
				if err := tr.Put([]byte(key(k)), v, 0, nil); err != nil {
					t.Fatal(err)
				}
				model[key(k)] = string(v)
			case 3, 4:
				if _, err := tr.Delete([]byte(key(k)), nil); err != nil {
					t.Fatal(err)
				}
				delete(model, key(k))
			case 5: // delete keys k to k+n through a cursor
				c := tr.NewCursor()
				for ck, _, _ := c.Seek([]byte(key(k))); ck != nil && string(ck) <= key(byte(int(k)+n%24)); ck, _, _ = c.Next() {
					dk, err := c.Delete(nil)
					if err != nil {
						t.Fatal(err)
					}
					delete(model, string(dk))
				}
			case 6:
				commitTree(t, tr, m)
				if leaf := tr.Inline(); leaf != nil && len(leaf) > page.InlineMax(1024) {
					t.Fatalf("inline leaf of %d bytes, over %d", len(leaf), page.InlineMax(1024))
				}
				if k%2 == 1 {
					tr = reopenInline(t, tr, m)
				}
				checkTree(t, tr, model)
			case 7:
				tr.Fill, tr.AppendFill = float64(k)/255, float64(n)/255
			}
		}
		commitTree(t, tr, m)
		tr = reopenInline(t, tr, m)
		checkTree(t, tr, model)
	})
}

// FuzzReadInline reads an inline leaf only page.ReadBucketHeader checked
// (a read transaction's open without VerifyChecksums): Get, a cursor's
// walks both ways, Seek and Walk (Stats') may fail, with ErrCorrupt
// naming a page, but never panic or return bytes outside the leaf.
func FuzzReadInline(f *testing.F) {
	for _, n := range []int{1, 3, 6} {
		m := newMemPages(1024)
		tr := New(m, 0, 0)
		tr.Inlinable = true
		for i := range n {
			if err := tr.Put(fmt.Appendf(nil, "k%02d", i), bytes.Repeat([]byte{'v'}, i), 0, nil); err != nil {
				f.Fatal(err)
			}
		}
		commitTree(f, tr, m)
		if tr.Inline() == nil {
			f.Fatalf("%d keys: not inline", n)
		}
		v := make([]byte, page.BucketHeaderSize)
		page.BucketHeader{Inline: true}.Encode(v)
		f.Add(append(v, tr.Inline()...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := page.ReadBucketHeader(b, 9)
		if err != nil || !h.Inline {
			return
		}
		leaf := page.BucketLeaf(b)
		lo, hi := uintptr(unsafe.Pointer(&leaf[0])), uintptr(unsafe.Pointer(&leaf[0]))+uintptr(len(leaf))
		inLeaf := func(what string, v []byte) {
			if len(v) == 0 {
				return
			}
			if p := uintptr(unsafe.Pointer(&v[0])); p < lo || p+uintptr(len(v)) > hi {
				t.Fatalf("%s: %d bytes outside the leaf", what, len(v))
			}
		}
		// An element may claim a large value, whose run's error names
		// the page it points at (as from a leaf page).
		wantErr := func(what string, err error) {
			var ce *page.CorruptError
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("%s: %v; want ErrCorrupt naming a page", what, err)
			}
		}
		tr := NewInline(newMemPages(1024), leaf, 9)
		for _, k := range []string{"", "k00", "k01", "k05", "\xff"} {
			v, flags, _, err := tr.Get([]byte(k))
			wantErr("Get", err)
			if flags&page.LeafLarge == 0 {
				inLeaf("Get", v)
			}
		}
		walk := func(what string, first func() ([]byte, []byte, uint32), next func() ([]byte, []byte, uint32)) {
			k, v, _ := first()
			for i := 0; k != nil && i <= page.PageCount(leaf); i++ {
				inLeaf(what, k)
				inLeaf(what, v)
				k, v, _ = next()
			}
		}
		c := tr.NewCursor()
		walk("First/Next", c.First, c.Next)
		wantErr("First/Next", c.Err())
		c = tr.NewCursor()
		walk("Last/Prev", c.Last, c.Prev)
		wantErr("Last/Prev", c.Err())
		c = tr.NewCursor()
		k, v, _ := c.Seek([]byte("k01"))
		inLeaf("Seek", k)
		inLeaf("Seek", v)
		wantErr("Seek", c.Err())
		// Bucket.Stats in a read transaction walks the leaf as opened
		// (tx's walkTrees), and so does Inspect's cursor: problems, not
		// panics, and no page of its own.
		for _, verify := range []bool{false, true} {
			elems := 0
			tr.Walk(verify, Walker{
				Page: func(id page.ID, _ int, kind page.Flags, _ int) {
					if kind != page.FlagLarge {
						t.Fatalf("Walk: page %d of kind %v for an inline leaf", id, kind)
					}
				},
				Elem: func(k, v []byte, flags uint32) {
					elems++
					inLeaf("Walk", k)
					inLeaf("Walk", v) // a large value's descriptor too
				},
				Problem: func(err error) { wantErr("Walk", err) },
			})
			if elems > page.PageCount(leaf) {
				t.Fatalf("Walk: %d elements of a leaf of %d", elems, page.PageCount(leaf))
			}
		}
	})
}
