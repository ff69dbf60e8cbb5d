package btree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// twoLevelTree commits n keys into a tree whose root is a branch over
// leaves only, and returns the root's id and checksum.
func twoLevelTree(t *testing.T, m *memPages, n int) (page.ID, uint32) {
	t.Helper()
	tr := New(m, 0, 0)
	for i := range n {
		k := fmt.Sprintf("k%05d", i)
		if err := tr.Put([]byte(k), []byte("value of "+k), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	commitTree(t, tr, m)
	root, sum := tr.Root()
	p, err := m.Run(root, page.FlagBranch, sum)
	if err != nil {
		t.Fatalf("root is not a branch: %v", err)
	}
	for i := range page.PageCount(p) {
		id, csum := page.BranchChild(p, i)
		if _, err := m.Run(id, page.FlagLeaf, csum); err != nil {
			t.Fatalf("child %d of the root is not a leaf: %v", i, err)
		}
	}
	if page.PageCount(p) < 6 {
		t.Fatalf("root has %d children, want a few", page.PageCount(p))
	}
	return root, sum
}

// scan walks c from First and returns the keys and values it met.
func scan(c *Cursor) []string {
	var got []string
	for k, v, _ := c.First(); k != nil; k, v, _ = c.Next() {
		got = append(got, string(k)+"="+string(v))
	}
	return got
}

// TestCursorMap: Map is only a hint. With the real mapping, with one that
// is too short (ids past its end are not prefetched) and with unrelated
// bytes (prefetches of the wrong memory), a cursor reads the same keys.
func TestCursorMap(t *testing.T) {
	m := newMemPages(1024)
	root, sum := twoLevelTree(t, m, 600)
	c := New(m, root, sum).NewCursor()
	want := scan(c)
	if len(want) != 600 {
		t.Fatalf("plain scan: %d keys, want 600", len(want))
	}
	for _, tc := range []struct {
		name    string
		mapping []byte
	}{
		{"file", m.file},
		{"short", m.file[:len(m.file)/3]},
		{"one byte", m.file[:1]},
		{"unrelated", make([]byte, 4096)},
	} {
		c.Map(tc.mapping, m.ps)
		got := scan(c)
		if err := c.Err(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: scan differs: %d keys, want %d", tc.name, len(got), len(want))
		}
		// Seek lands in the middle of a parent and Last/Prev walks back:
		// a mapping set earlier must not disturb either.
		if k, _, _ := c.Seek([]byte("k00300")); string(k) != "k00300" {
			t.Fatalf("%s: Seek k00300 = %q", tc.name, k)
		}
		n := 0
		for k, _, _ := c.Last(); k != nil; k, _, _ = c.Prev() {
			n++
		}
		if n != 600 || c.Err() != nil {
			t.Fatalf("%s: reverse walk met %d keys, err %v", tc.name, n, c.Err())
		}
	}
	c.Reset(c.t)
	if c.mapping != nil {
		t.Fatal("Reset kept the mapping")
	}
}

// TestCursorMapDamagedChild: a branch naming a child id far outside the
// file (as a damaged page may, checksum and all) is prefetched from
// nowhere, and the cursor stops there with an error naming the page.
func TestCursorMapDamagedChild(t *testing.T) {
	for _, bad := range []page.ID{1 << 40, 1 << 54, 1<<64 - 1} {
		t.Run(fmt.Sprintf("id=%#x", uint64(bad)), func(t *testing.T) {
			m := newMemPages(1024)
			root, _ := twoLevelTree(t, m, 600)
			// Rewrite the root's third child id and reseal: only the id is
			// wrong, as after a bug or a bit flip before the checksum.
			p := m.file[int(root)*m.ps : int(root+1)*m.ps]
			before := 0
			for i := range 2 {
				id, _ := page.BranchChild(p, i)
				before += page.PageCount(m.file[int(id)*m.ps:])
			}
			e := page.HeaderSize + page.PageCount(p)*page.HintSize + 2*page.BranchElemSize
			binary.LittleEndian.PutUint64(p[e:], uint64(bad))
			sum := page.Seal(p)

			c := New(m, root, sum).NewCursor()
			c.Map(m.file, m.ps)
			got := scan(c)
			var ce *page.CorruptError
			if !errors.Is(c.Err(), page.ErrCorrupt) || !errors.As(c.Err(), &ce) {
				t.Fatalf("scan met %d keys and error %v, want a CorruptError", len(got), c.Err())
			}
			if ce.Page != bad {
				t.Fatalf("error names page %d, want %d: %v", ce.Page, bad, c.Err())
			}
			if len(got) != before {
				t.Fatalf("scan met %d keys before the damaged child, want the %d of the first two leaves", len(got), before)
			}
		})
	}
}

// TestCursorPrefetchBursts: walking a parent's leaves, the cursor has
// always asked for at least prefetchLow leaves after the current one (or
// all there are), never for more than prefetchHigh, and asks again only
// once fewer than prefetchLow are left: in bursts, so page walks overlap.
func TestCursorPrefetchBursts(t *testing.T) {
	m := newMemPages(1024)
	root, sum := twoLevelTree(t, m, 600)
	c := New(m, root, sum).NewCursor()
	c.Map(m.file, m.ps)
	bursts, leaves, last, ahead := 0, 0, -1, 0
	for k, _, _ := c.First(); k != nil; k, _, _ = c.Next() {
		parent := &c.stack[0]
		if parent.index == last {
			continue
		}
		if parent.index != last+1 {
			t.Fatalf("leaf %d after leaf %d", parent.index, last)
		}
		leaves, last = leaves+1, parent.index
		if want := min(parent.index+prefetchLow, parent.count-1); parent.ahead < want || parent.ahead > parent.index+prefetchHigh {
			t.Fatalf("at leaf %d of %d: asked up to leaf %d", parent.index, parent.count, parent.ahead)
		}
		if parent.ahead != ahead {
			bursts, ahead = bursts+1, parent.ahead
		}
	}
	p, _ := m.Run(root, page.FlagBranch, sum)
	if leaves != page.PageCount(p) {
		t.Fatalf("walked %d leaves, the root has %d", leaves, page.PageCount(p))
	}
	if most := leaves/(prefetchHigh-prefetchLow) + 1; bursts < 2 || bursts > most {
		t.Fatalf("%d bursts of prefetches over %d leaves, want 2 to %d", bursts, leaves, most)
	}
	t.Logf("%d bursts over %d leaves", bursts, leaves)
}

// TestCursorSeekDoesNotPrefetch: a Seek is often a point lookup, so it
// asks for no leaves; a Next leaving the leaf it landed on starts the
// bursts.
func TestCursorSeekDoesNotPrefetch(t *testing.T) {
	m := newMemPages(1024)
	root, sum := twoLevelTree(t, m, 600)
	c := New(m, root, sum).NewCursor()
	c.Map(m.file, m.ps)
	if k, _, _ := c.Seek([]byte("k00300")); string(k) != "k00300" {
		t.Fatalf("Seek k00300 = %q", k)
	}
	parent := &c.stack[0]
	if parent.ahead != 0 {
		t.Fatalf("Seek asked for leaves up to %d", parent.ahead)
	}
	leaf := parent.index
	for parent.index == leaf {
		if k, _, _ := c.Next(); k == nil {
			t.Fatalf("Next ended at leaf %d: %v", leaf, c.Err())
		}
	}
	if want := min(parent.index+prefetchHigh, parent.count-1); parent.ahead != want {
		t.Fatalf("entering leaf %d by Next asked up to leaf %d, want %d", parent.index, parent.ahead, want)
	}
}
