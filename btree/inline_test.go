package btree

import (
	"fmt"
	"testing"

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
