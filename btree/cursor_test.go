package btree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
// nowhere, and the cursor stops there with an error naming the page,
// walking forward or backward.
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

			after := 0
			for i := 3; i < page.PageCount(p); i++ {
				id, _ := page.BranchChild(p, i)
				after += page.PageCount(m.file[int(id)*m.ps:])
			}
			c := New(m, root, sum).NewCursor()
			c.Map(m.file, m.ps)
			for _, backward := range []bool{false, true} {
				var got []string
				want := before
				if backward {
					got, want = scanBack(c), after
				} else {
					got = scan(c)
				}
				var ce *page.CorruptError
				if !errors.Is(c.Err(), page.ErrCorrupt) || !errors.As(c.Err(), &ce) {
					t.Fatalf("backward=%v: scan met %d keys and error %v, want a CorruptError", backward, len(got), c.Err())
				}
				if ce.Page != bad {
					t.Fatalf("backward=%v: error names page %d, want %d: %v", backward, ce.Page, bad, c.Err())
				}
				if len(got) != want {
					t.Fatalf("backward=%v: scan met %d keys before the damaged child, want the %d of the leaves before it", backward, len(got), want)
				}
				c.Reset(c.t) // clears the error
				c.Map(m.file, m.ps)
			}
		})
	}
}

// TestCursorPrefetchBursts: walking a parent's leaves forward, the cursor
// has always asked for at least prefetchLow leaves after the current one
// (or all there are), never for more than prefetchHigh, and asks again
// only once fewer than prefetchLow are left: in bursts, so page walks
// overlap. Walking backward, the same holds for the leaves before.
func TestCursorPrefetchBursts(t *testing.T) {
	m := newMemPages(1024)
	root, sum := twoLevelTree(t, m, 600)
	p, _ := m.Run(root, page.FlagBranch, sum)
	for _, backward := range []bool{false, true} {
		t.Run(fmt.Sprintf("backward=%v", backward), func(t *testing.T) {
			c := New(m, root, sum).NewCursor()
			c.Map(m.file, m.ps)
			start, step, last, asked := c.First, c.Next, -1, 0
			if backward {
				start, step, last, asked = c.Last, c.Prev, page.PageCount(p), page.PageCount(p)
			}
			bursts, leaves := 0, 0
			for k, _, _ := start(); k != nil; k, _, _ = step() {
				parent := &c.stack[0]
				if parent.index == last {
					continue
				}
				// ahead: leaves asked for after this one; now: the
				// last (first, backward) leaf asked for.
				next, ahead, now := last+1, parent.ahead-parent.index, parent.ahead
				if backward {
					next, ahead, now = last-1, parent.index-parent.behind, parent.behind
				}
				if parent.index != next {
					t.Fatalf("leaf %d after leaf %d", parent.index, last)
				}
				leaves, last = leaves+1, parent.index
				left := parent.count - 1 - parent.index // leaves after this one
				if backward {
					left = parent.index
				}
				if ahead < min(prefetchLow, left) || ahead > prefetchHigh {
					t.Fatalf("at leaf %d of %d: asked for %d leaves ahead", parent.index, parent.count, ahead)
				}
				if now != asked {
					bursts, asked = bursts+1, now
				}
			}
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
			if leaves != page.PageCount(p) {
				t.Fatalf("walked %d leaves, the root has %d", leaves, page.PageCount(p))
			}
			if most := leaves/(prefetchHigh-prefetchLow) + 1; bursts < 2 || bursts > most {
				t.Fatalf("%d bursts of prefetches over %d leaves, want 2 to %d", bursts, leaves, most)
			}
			t.Logf("%d bursts over %d leaves", bursts, leaves)
		})
	}
}

// TestCursorSeekDoesNotPrefetch: a Seek is often a point lookup, so it
// asks for no leaves; a Next or Prev leaving the leaf it landed on starts
// the bursts.
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

	// Backward likewise: a Prev leaving the leaf Seek landed on starts.
	if k, _, _ := c.Seek([]byte("k00300")); string(k) != "k00300" {
		t.Fatalf("Seek k00300 = %q", k)
	}
	if parent.behind != parent.count {
		t.Fatalf("Seek asked for leaves down to %d", parent.behind)
	}
	leaf = parent.index
	for parent.index == leaf {
		if k, _, _ := c.Prev(); k == nil {
			t.Fatalf("Prev ended at leaf %d: %v", leaf, c.Err())
		}
	}
	if want := max(parent.index-prefetchHigh, 0); parent.behind != want {
		t.Fatalf("entering leaf %d by Prev asked down to leaf %d, want %d", parent.index, parent.behind, want)
	}
}

// TestCursorScanAllocs: a scan with prefetching, either way, allocates
// nothing.
func TestCursorScanAllocs(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 5000)
	c := New(m, root, sum).NewCursor()
	for _, backward := range []bool{false, true} {
		n := testing.AllocsPerRun(10, func() {
			c.Map(m.file, m.ps)
			if backward {
				for k, _, _ := c.Last(); k != nil; k, _, _ = c.Prev() {
				}
			} else {
				for k, _, _ := c.First(); k != nil; k, _, _ = c.Next() {
				}
			}
		})
		if n != 0 || c.Err() != nil {
			t.Fatalf("backward=%v: a scan allocated %v times (err %v), want 0", backward, n, c.Err())
		}
	}
}

// threeLevelTree commits n keys, put in random order over transactions of
// 500, into a tree of at least three levels (the root's children are
// branches, so a scan crosses from one parent of leaves to the next), and
// returns its root, checksum and keys in order, each "key=value".
func threeLevelTree(t *testing.T, m *memPages, n int) (page.ID, uint32, []string) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	perm := r.Perm(n)
	var root page.ID
	var sum uint32
	for done := 0; done < n; done += 500 {
		tr := New(m, root, sum)
		for _, i := range perm[done:min(done+500, n)] {
			k := fmt.Sprintf("k%06d", i)
			if err := tr.Put([]byte(k), []byte("value of "+k), 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		commitTree(t, tr, m)
		root, sum = tr.Root()
	}
	p, err := m.Run(root, page.FlagBranch, sum)
	if err != nil {
		t.Fatalf("root is not a branch: %v", err)
	}
	if id, csum := page.BranchChild(p, 0); !isBranch(m, id, csum) || page.PageCount(p) < 3 {
		t.Fatalf("root has %d children, the first not a branch: want three levels", page.PageCount(p))
	}
	want := make([]string, n)
	for i := range n {
		k := fmt.Sprintf("k%06d", i)
		want[i] = k + "=value of " + k
	}
	return root, sum, want
}

func isBranch(m *memPages, id page.ID, sum uint32) bool {
	_, err := m.Run(id, page.FlagBranch, sum)
	return err == nil
}

// scanBack walks c from Last and returns the keys and values it met.
func scanBack(c *Cursor) []string {
	var got []string
	for k, v, _ := c.Last(); k != nil; k, v, _ = c.Prev() {
		got = append(got, string(k)+"="+string(v))
	}
	return got
}

// TestCursorReverseScan: Last and Prev visit every key in descending
// order over a tree of many leaves under several parents, with prefetching
// off (no mapping) and with mappings that are real, short or unrelated.
func TestCursorReverseScan(t *testing.T) {
	m := newMemPages(1024)
	root, sum, want := threeLevelTree(t, m, 20000)
	slices.Reverse(want)
	c := New(m, root, sum).NewCursor()
	for _, tc := range []struct {
		name    string
		mapping []byte
	}{
		{"nil", nil},
		{"file", m.file},
		{"short", m.file[:len(m.file)/3]},
		{"unrelated", make([]byte, 4096)},
	} {
		c.Map(tc.mapping, m.ps)
		got := scanBack(c)
		if err := c.Err(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: reverse scan met %d keys, want %d; first difference at %d", tc.name, len(got), len(want), i)
		}
	}
}

// TestCursorReverseScanWriteTx: in a write transaction's tree, where some
// paths are materialised nodes and some values are large, Prev meets the
// same elements as Next, in reverse; also after Seek, and from the element
// a Delete left the cursor on.
func TestCursorReverseScanWriteTx(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 5000)
	tr := New(m, root, sum)
	large := bytes.Repeat([]byte("L"), 3*m.ps)
	for i := 0; i < 5000; i += 97 {
		k := fmt.Sprintf("k%06d", i)
		if err := tr.Put([]byte(k), large, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	commitTree(t, tr, m)
	// The write transaction: committed leaves, some with large values,
	// next to materialised ones.
	root, sum = tr.Root()
	tr = New(m, root, sum)
	for i := 0; i < 5000; i += 301 {
		k := fmt.Sprintf("k%06d", i)
		if err := tr.Put([]byte(k), []byte("changed"), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := tr.Delete([]byte("k002500"), nil); !ok || err != nil {
		t.Fatalf("Delete k002500: %v, %v", ok, err)
	}
	c := tr.NewCursor()
	c.Map(m.file, m.ps)
	want := scan(c)
	slices.Reverse(want)
	if got := scanBack(c); !slices.Equal(got, want) || c.Err() != nil {
		t.Fatalf("reverse scan met %d elements, want %d (err %v)", len(got), len(want), c.Err())
	}
	if k, _, _ := c.Seek([]byte("k001000")); string(k) != "k001000" {
		t.Fatalf("Seek k001000 = %q", k)
	}
	for i := 999; i >= 900; i-- {
		k, v, _ := c.Prev()
		if want := fmt.Sprintf("k%06d", i); string(k) != want {
			t.Fatalf("Prev = %q, want %s", k, want)
		}
		if i%97 == 0 && i%301 != 0 && !bytes.Equal(v, large) {
			t.Fatalf("Prev at %s: a %d-byte value, want the large one", k, len(v))
		}
	}
	if _, err := c.Delete(nil); err != nil { // k000900
		t.Fatal(err)
	}
	if k, _, _ := c.Prev(); string(k) != "k000899" {
		t.Fatalf("Prev after Delete = %q, want k000899", k)
	}
}

// TestCursorPrefetchAcrossParents: the bursts run on across a parent's
// edge: on a parent's last leaf the cursor has asked for at least
// prefetchLow leaves under the next parent (its first leaf after it),
// and backward on a parent's first leaf for the previous parent's last.
func TestCursorPrefetchAcrossParents(t *testing.T) {
	m := newMemPages(1024)
	root, sum, want := threeLevelTree(t, m, 20000)
	c := New(m, root, sum).NewCursor()
	c.Map(m.file, m.ps)
	edges := 0
	for k, _, _ := c.First(); k != nil; k, _, _ = c.Next() {
		parent, grand := &c.stack[c.depth-2], &c.stack[c.depth-3]
		if parent.index == parent.count-1 && grand.index < grand.count-1 {
			edges++
			if parent.ahead < parent.count-1+prefetchLow {
				t.Fatalf("on the last of %d leaves: asked up to leaf %d", parent.count, parent.ahead)
			}
		}
	}
	back := 0
	for k, _, _ := c.Last(); k != nil; k, _, _ = c.Prev() {
		parent, grand := &c.stack[c.depth-2], &c.stack[c.depth-3]
		if parent.index == 0 && grand.index > 0 {
			back++
			if parent.behind > -prefetchLow {
				t.Fatalf("backward on the first of %d leaves: asked down to leaf %d", parent.count, parent.behind)
			}
		}
	}
	if c.Err() != nil || edges < 10 || back < 10 {
		t.Fatalf("met %d parent edges forward, %d backward, error %v; want a scan of %d keys over many parents", edges, back, c.Err(), len(want))
	}
}

// setChild points element i of the branch run p at child id with
// checksum sum, and reseals p; it returns p's new checksum.
func setChild(p []byte, i int, id page.ID, sum uint32) uint32 {
	e := page.HeaderSize + page.PageCount(p)*page.HintSize + i*page.BranchElemSize
	binary.LittleEndian.PutUint64(p[e:], uint64(id))
	binary.LittleEndian.PutUint32(p[e+8:], sum)
	return page.Seal(p)
}

// TestCursorMapDamagedNextParent: crossing a parent's edge, the cursor
// reads the next parent (the previous one, backward) before it gets
// there. Damage there (an id past the file, a bad checksum, child ids
// past the mapping) must neither crash it nor stop it early: it scans
// every key before the damage, then fails naming the page.
func TestCursorMapDamagedNextParent(t *testing.T) {
	const bad = page.ID(1 << 40)
	for _, tc := range []struct {
		name string
		// damage changes the root's child i (a parent of leaves) and
		// returns the root's new checksum and the page the error names.
		damage func(m *memPages, root []byte, i int) (uint32, page.ID)
	}{
		{"id past the file", func(m *memPages, root []byte, i int) (uint32, page.ID) {
			_, sum := page.BranchChild(root, i)
			return setChild(root, i, bad, sum), bad
		}},
		{"bad checksum", func(m *memPages, root []byte, i int) (uint32, page.ID) {
			id, _ := page.BranchChild(root, i)
			m.file[int(id)*m.ps+m.ps-1] ^= 0xff
			return page.Seal(root), id
		}},
		{"children past the mapping", func(m *memPages, root []byte, i int) (uint32, page.ID) {
			id, _ := page.BranchChild(root, i)
			p := m.file[int(id)*m.ps : int(id+1)*m.ps]
			var psum uint32
			for j := range page.PageCount(p) {
				_, csum := page.BranchChild(p, j)
				psum = setChild(p, j, bad, csum)
			}
			return setChild(root, i, id, psum), bad
		}},
	} {
		for _, backward := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/backward=%v", tc.name, backward), func(t *testing.T) {
				m := newMemPages(1024)
				root, _, all := threeLevelTree(t, m, 5000)
				p := m.file[int(root)*m.ps : int(root+1)*m.ps]
				n := page.PageCount(p)
				for i := range n { // the root's grandchildren are leaves
					id, csum := page.BranchChild(p, i)
					child, _ := m.Run(id, page.FlagBranch, csum)
					if gid, gsum := page.BranchChild(child, 0); isBranch(m, gid, gsum) {
						t.Fatal("tree deeper than three levels")
					}
				}
				// Keys under the root's first child (the last, backward)
				// come before the damage in its second (second to last).
				id, csum := page.BranchChild(p, 0)
				damaged := 1
				if backward {
					id, csum = page.BranchChild(p, n-1)
					damaged = n - 2
				}
				c := New(m, id, csum).NewCursor()
				before := len(scan(c))
				sum, named := tc.damage(m, p, damaged)

				c = New(m, root, sum).NewCursor()
				c.Map(m.file, m.ps)
				var got []string
				if backward {
					got = scanBack(c)
					slices.Reverse(got)
					all = all[len(all)-before:]
				} else {
					got = scan(c)
					all = all[:before]
				}
				var ce *page.CorruptError
				if !errors.As(c.Err(), &ce) || ce.Page != named {
					t.Fatalf("scan met %d keys and error %v, want one naming page %d", len(got), c.Err(), named)
				}
				if !slices.Equal(got, all) {
					t.Fatalf("scan met %d keys before the damage, want the %d under the parent before it", len(got), before)
				}
			})
		}
	}
}
