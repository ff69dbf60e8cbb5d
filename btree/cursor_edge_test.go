package btree

import (
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// The public API's side of these (bbolt side by side, nested buckets) is
// in the root package's cursor_misuse_test.go.

// TestCursorNodeShrinksUnder: Tree.Delete while a cursor stands on
// materialised nodes (the tree changed before the cursor moved) shrinks
// them under it; Next, Prev, Target and Delete then read within the
// nodes' live length (they indexed past it and panicked) and the walk
// goes on over what remains.
func TestCursorNodeShrinksUnder(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 2000)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }
	for _, move := range []string{"next", "prev", "target", "delete"} {
		t.Run(move, func(t *testing.T) {
			m.rollback()
			tr := New(m, root, sum)
			if err := tr.Put(key(1000), []byte("changed"), 0, nil); err != nil {
				t.Fatal(err)
			}
			c := tr.NewCursor()
			if k, _, _ := c.Seek(key(1000)); string(k) != string(key(1000)) {
				t.Fatalf("Seek = %q", k)
			}
			// Empty the leaf under the cursor and the one after it.
			for i := 1000; i < 1100; i++ {
				if _, err := tr.Delete(key(i), nil); err != nil {
					t.Fatal(err)
				}
			}
			var k []byte
			switch move {
			case "next":
				k, _, _ = c.Next()
			case "prev":
				k, _, _ = c.Prev()
			case "target":
				k, _ = c.Target()
			case "delete":
				if _, err := c.Delete(nil); err != nil {
					t.Fatal(err)
				}
				k, _, _ = c.Next()
			}
			if k == nil {
				if move != "target" {
					t.Fatalf("%s met the end in the middle of the tree", move)
				}
			} else if i := string(k); i >= string(key(1000)) && i < string(key(1100)) {
				t.Fatalf("%s returned %s, deleted", move, k)
			}
			if c.Err() != nil {
				t.Fatal(c.Err())
			}
		})
	}
}

// TestCursorTargetAtLeafEnd: after a Delete of a leaf's last element,
// Target names the next leaf's first element with its flags (it named
// none, so a second Delete removed nothing and tx could not refuse a
// nested bucket there), and a second Delete removes it.
func TestCursorTargetAtLeafEnd(t *testing.T) {
	m := newMemPages(1024)
	root, sum := twoLevelTree(t, m, 600)
	p, err := m.Run(root, page.FlagBranch, sum)
	if err != nil {
		t.Fatal(err)
	}
	// The last key of the root's first leaf, and the next leaf's first.
	id, csum := page.BranchChild(p, 0)
	leaf, err := m.Run(id, page.FlagLeaf, csum)
	if err != nil {
		t.Fatal(err)
	}
	n := page.PageCount(leaf)
	_, last, _, _ := page.LeafElem(leaf, n, n-1)
	id, csum = page.BranchChild(p, 1)
	if leaf, err = m.Run(id, page.FlagLeaf, csum); err != nil {
		t.Fatal(err)
	}
	_, next, _, _ := page.LeafElem(leaf, page.PageCount(leaf), 0)

	tr := New(m, root, sum)
	if err := tr.Put(next, []byte("a bucket"), page.LeafBucket, nil); err != nil {
		t.Fatal(err)
	}
	c := tr.NewCursor()
	if k, _, _ := c.Seek(last); string(k) != string(last) {
		t.Fatalf("Seek = %q, want %s", k, last)
	}
	if _, err := c.Delete(nil); err != nil {
		t.Fatal(err)
	}
	if k, flags := c.Target(); string(k) != string(next) || flags != page.LeafBucket {
		t.Fatalf("Target after a Delete at the leaf's end = %q, %#x; want %s, the bucket flag", k, flags, next)
	}
	if _, err := c.Delete(nil); err != nil {
		t.Fatal(err)
	}
	got, _ := walkAll(t, tr)
	if _, ok := got[string(last)]; ok {
		t.Fatalf("%s kept", last)
	}
	if _, ok := got[string(next)]; ok {
		t.Fatalf("%s kept: the second Delete removed nothing", next)
	}
	if len(got) != 598 {
		t.Fatalf("%d keys left, want 598", len(got))
	}
}

// TestCursorEnds: a cursor run off either end stays on the last (first)
// element, so it can go back; a Seek past the last key rests past it, so
// Prev returns the last key. Over a tree of three levels, committed and
// with materialised nodes whose first and last leaves were emptied (the
// cursor steps over them both ways, and off the end comes back to the
// same place).
func TestCursorEnds(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 3000)
	key := func(i int) string { return fmt.Sprintf("k%06d", i) }
	changed := New(m, root, sum)
	for i := range 3000 {
		if i < 200 || i >= 2800 {
			if _, err := changed.Delete([]byte(key(i)), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name        string
		tr          *Tree
		first, last int
	}{
		{"committed", New(m, root, sum), 0, 2999},
		{"emptied leaves", changed, 200, 2799},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tr.NewCursor()
			check := func(what string, k []byte, want int) {
				t.Helper()
				if w := ""; want >= 0 {
					w = key(want)
					if string(k) != w {
						t.Fatalf("%s = %q, want %q", what, k, w)
					}
				} else if k != nil {
					t.Fatalf("%s = %q, want nil", what, k)
				}
			}
			k, _, _ := c.Last()
			check("Last", k, tc.last)
			k, _, _ = c.Next()
			check("Last, Next", k, -1)
			k, _, _ = c.Next()
			check("Last, Next, Next", k, -1)
			k, _, _ = c.Prev()
			check("Last, Next, Next, Prev", k, tc.last-1)
			k, _, _ = c.First()
			check("First", k, tc.first)
			k, _, _ = c.Prev()
			check("First, Prev", k, -1)
			k, _, _ = c.Next()
			check("First, Prev, Next", k, tc.first+1)
			k, _, _ = c.Seek([]byte("zzz"))
			check("Seek past the end", k, -1)
			k, _, _ = c.Prev()
			check("Seek past the end, Prev", k, tc.last)
			k, _, _ = c.Seek([]byte(key(2900)))
			check("Seek into the emptied end", k, map[bool]int{true: -1, false: 2900}[tc.first > 0])
			k, _, _ = c.Prev()
			check("Seek(2900), Prev", k, map[bool]int{true: tc.last, false: 2899}[tc.first > 0])
			if c.Err() != nil {
				t.Fatal(c.Err())
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		m.rollback() // changed's frees
		tr := New(m, root, sum)
		for i := range 3000 {
			if _, err := tr.Delete([]byte(key(i)), nil); err != nil {
				t.Fatal(err)
			}
		}
		c := tr.NewCursor()
		for _, move := range []func() ([]byte, []byte, uint32){c.First, c.Next, c.Prev, c.Last, c.Prev, c.Next} {
			if k, _, _ := move(); k != nil {
				t.Fatalf("got %q from an emptied tree", k)
			}
		}
		if k, _ := c.Target(); k != nil {
			t.Fatalf("Target = %q in an emptied tree", k)
		}
		if _, err := c.Delete(nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCursorPrevAtStartAfterDelete: Deletes from the first key on, then
// a Prev, which finds nothing before: the cursor stays on the first
// element left, so Next returns the one after it, whether the Deletes
// emptied the first leaf or not. (When they had, the cursor rested on
// the empty leaf, before the first element, and Next returned that
// element; found by TestBboltDiff, where bbolt goes on from the first.)
func TestCursorPrevAtStartAfterDelete(t *testing.T) {
	m := newMemPages(1024)
	root, sum := twoLevelTree(t, m, 600)
	p, err := m.Run(root, page.FlagBranch, sum)
	if err != nil {
		t.Fatal(err)
	}
	id, csum := page.BranchChild(p, 0)
	leaf, err := m.Run(id, page.FlagLeaf, csum)
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) string { return fmt.Sprintf("k%05d", i) }
	n := page.PageCount(leaf) // the first leaf's keys
	for _, deletes := range []int{1, n - 1, n, n + 1} {
		t.Run(fmt.Sprintf("deletes=%d", deletes), func(t *testing.T) {
			m.rollback()
			tr := New(m, root, sum)
			c := tr.NewCursor()
			if k, _, _ := c.First(); string(k) != key(0) {
				t.Fatalf("First = %q", k)
			}
			for range deletes {
				if _, err := c.Delete(nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, step := range []struct {
				move func() ([]byte, []byte, uint32)
				name string
				want string
			}{
				{c.Prev, "Prev", ""},
				{c.Next, "Next", key(deletes + 1)},
				{c.Prev, "Prev", key(deletes)},
				{c.Prev, "Prev", ""},
				{c.Next, "Next", key(deletes + 1)},
			} {
				if k, _, _ := step.move(); string(k) != step.want {
					t.Fatalf("%d Deletes from the first key, then ... %s = %q, want %q", deletes, step.name, k, step.want)
				}
			}
		})
	}
}
