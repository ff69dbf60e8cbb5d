package btree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// drainTree commits n keys k000000.. in key order, in commits of 1000,
// and returns the root and the number of pages the tree takes.
func drainTree(t *testing.T, m *memPages, n int) (page.ID, uint32, int) {
	t.Helper()
	var root page.ID
	var sum uint32
	for done := 0; done < n; done += 1000 {
		tr := New(m, root, sum)
		for i := done; i < min(done+1000, n); i++ {
			k := fmt.Sprintf("k%06d", i)
			if err := tr.Put([]byte(k), []byte("value of "+k), 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		commitTree(t, tr, m)
		root, sum = tr.Root()
	}
	pages := 0
	New(m, root, sum).Walk(true, Walker{
		Page:    func(id page.ID, n int, kind page.Flags, depth int) { pages += n },
		Problem: func(err error) { t.Fatalf("walk: %v", err) },
	})
	return root, sum, pages
}

// drainAll deletes every key of the committed tree (root, sum) in
// one transaction the way pattern says, checking each key is the next
// one expected, and returns the nodes and pages the cursor moved onto.
// Then the commit frees every page the tree had, once each (memPages
// panics on a double free), and leaves it empty.
func drainAll(t *testing.T, m *memPages, root page.ID, sum uint32, n, pages int, pattern string) int {
	t.Helper()
	tr := New(m, root, sum)
	c := tr.NewCursor()
	key := func(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }
	lo, hi := 0, n-1 // the keys left: [lo, hi]
	for step := 0; lo <= hi; step++ {
		var k []byte
		front := true
		switch pattern {
		case "first", "first+tree":
			k, _, _ = c.First()
		case "last", "last+tree":
			k, _, _ = c.Last()
			front = false
		case "seek":
			k, _, _ = c.Seek([]byte("k"))
		case "mixed":
			if front = step%3 != 2; front {
				k, _, _ = c.First()
			} else {
				k, _, _ = c.Last()
			}
		case "next":
			if step == 0 {
				k, _, _ = c.First()
			} else {
				k, _, _ = c.Next()
			}
		case "prev":
			if step == 0 {
				k, _, _ = c.Last()
			} else {
				k, _, _ = c.Prev()
			}
			front = false
		}
		want := key(lo)
		if !front {
			want = key(hi)
		}
		if !bytes.Equal(k, want) {
			t.Fatalf("%s: step %d: cursor at %q, want %q (err %v)", pattern, step, k, want, c.Err())
		}
		var err error
		var gone []byte
		if pattern == "first+tree" || pattern == "last+tree" {
			var found bool
			if found, err = tr.Delete(k, nil); found {
				gone = k
			}
		} else {
			gone, err = c.Delete(nil)
		}
		if err != nil || !bytes.Equal(gone, want) {
			t.Fatalf("%s: step %d: Delete = %q, %v; want %q", pattern, step, gone, err, want)
		}
		if front {
			lo++
		} else {
			hi--
		}
	}
	if k, _, _ := c.First(); k != nil {
		t.Fatalf("%s: First = %q in an emptied tree", pattern, k)
	}
	if k, _, _ := c.Last(); k != nil {
		t.Fatalf("%s: Last = %q in an emptied tree", pattern, k)
	}
	steps := c.steps
	commitTree(t, tr, m)
	if r, _ := tr.Root(); r != 0 {
		t.Fatalf("%s: emptied tree has root %d", pattern, r)
	}
	freed := 0
	for _, l := range m.free {
		freed += l
	}
	if freed < pages {
		t.Fatalf("%s: %d pages free after the commit, want the tree's %d", pattern, freed, pages)
	}
	return steps
}

// TestDrainIsLinear: deleting every key of a tree in one
// transaction by First (or Last, or a Seek to the first key) then
// Delete, again and again, moved the cursor over every leaf the deletes
// had emptied: those stayed in their parents until the commit
// rebalanced, so each First stepped over all of them, and draining 100k
// keys took 1.25 s and 1M keys minutes. The cost is counted, not timed:
// the nodes and pages the cursor moves onto, for n and 4n keys, must grow
// at most 5 times (it grew ~16 times).
func TestDrainIsLinear(t *testing.T) {
	const n = 3000
	for _, pattern := range []string{"first", "last", "seek", "mixed", "first+tree", "last+tree", "next", "prev"} {
		t.Run(pattern, func(t *testing.T) {
			var steps [2]int
			for i, keys := range []int{n, 4 * n} {
				m := newMemPages(1024)
				root, sum, pages := drainTree(t, m, keys)
				steps[i] = drainAll(t, m, root, sum, keys, pages, pattern)
			}
			t.Logf("%s: %d keys: %d steps, %d keys: %d", pattern, n, steps[0], 4*n, steps[1])
			if steps[1] > 5*steps[0] {
				t.Fatalf("%s: the cursor moved onto %d nodes and pages for %d keys and %d for %d: %.1f times, want at most 5 (linear)",
					pattern, steps[0], n, steps[1], 4*n, float64(steps[1])/float64(steps[0]))
			}
		})
	}
}

// rollback forgets the frees of a transaction that did not commit: a
// test that runs several on one committed tree calls it before each
// (deletes free the runs of the leaves they empty at once).
func (m *memPages) rollback() { m.dirty, m.pending = map[page.ID][]byte{}, map[page.ID]int{} }

// TestCursorOnDroppedNodes: deletes through one cursor empty the
// leaves, and a whole branch, under another, which are taken out of the
// tree at once (dropEmpty). The other cursor, whose frames are those
// nodes, goes on from the gap: Next returns the first key after the
// range, Prev the last before it (its parents' indices named the
// dropped children, or children after them: realign), and Delete
// removes nothing.
func TestCursorOnDroppedNodes(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 3000)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }
	for _, move := range []string{"next", "prev", "delete"} {
		for _, at := range []int{500, 1500, 2000} {
			t.Run(fmt.Sprintf("%s/at=%d", move, at), func(t *testing.T) {
				m.rollback()
				tr := New(m, root, sum)
				// Materialise the range, so the cursors read nodes.
				for i := 500; i < 2500; i++ {
					if err := tr.Put(key(i), []byte("changed"), 0, nil); err != nil {
						t.Fatal(err)
					}
				}
				children := len(tr.rootNode.inodes)
				other := tr.NewCursor()
				if k, _, _ := other.Seek(key(at)); !bytes.Equal(k, key(at)) {
					t.Fatalf("Seek = %q", k)
				}
				c := tr.NewCursor()
				c.Seek(key(500))
				for i := 500; i < 2500; i++ {
					if k, err := c.Delete(nil); err != nil || !bytes.Equal(k, key(i)) {
						t.Fatalf("Delete = %q, %v; want %s", k, err, key(i))
					}
				}
				if len(tr.rootNode.inodes) >= children {
					t.Fatalf("the root kept its %d children: no branch was emptied", children)
				}
				var k []byte
				want := key(2500)
				switch move {
				case "next":
					k, _, _ = other.Next()
				case "prev":
					k, _, _ = other.Prev()
					want = key(499)
				case "delete":
					if gone, err := other.Delete(nil); gone != nil || err != nil {
						t.Fatalf("Delete of a key deleted = %q, %v", gone, err)
					}
					k, _, _ = other.Next()
				}
				if !bytes.Equal(k, want) || other.Err() != nil {
					t.Fatalf("%s = %q (%v), want %s", move, k, other.Err(), want)
				}
				// The deleting cursor goes on both ways too.
				if k, _, _ := c.Next(); !bytes.Equal(k, key(2500)) {
					t.Fatalf("deleting cursor: Next = %q", k)
				}
				if k, _, _ := c.Prev(); !bytes.Equal(k, key(499)) {
					t.Fatalf("deleting cursor: Next, Prev = %q", k)
				}
				got, _ := walkAll(t, tr)
				if len(got) != 1000 {
					t.Fatalf("%d keys left, want 1000", len(got))
				}
			})
		}
	}
}

// TestWalkDeletingCommittedLeaves: a walk whose leaves are
// committed pages, under parents the transaction materialised, deleting
// each key it meets by Tree.Delete (ForEach with Bucket.Delete): each
// leaf it empties is taken out of its parent at once, and the walk,
// leaving the leaf's page, found its parent's index on the next leaf
// and stepped past it (a leaf of keys skipped). It meets every key, in
// order, both ways.
func TestWalkDeletingCommittedLeaves(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 3000)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }
	for _, dir := range []string{"forward", "backward"} {
		t.Run(dir, func(t *testing.T) {
			m.rollback()
			tr := New(m, root, sum)
			// Materialise the path to the far end's leaf (and the
			// parents above every other), outside the walk.
			far := "zzz"
			if dir == "backward" {
				far = "a"
			}
			if err := tr.Put([]byte(far), nil, 0, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Delete([]byte(far), nil); err != nil {
				t.Fatal(err)
			}
			c := tr.NewCursor()
			var met []string
			k, _, _ := c.First()
			lo, hi, step := 0, 2900, 1 // stop short of the far leaf
			if dir == "backward" {
				k, _, _ = c.Last()
				lo, hi, step = 100, 3000, -1
			}
			for k != nil {
				if (step > 0 && bytes.Compare(k, key(hi)) >= 0) || (step < 0 && bytes.Compare(k, key(lo)) < 0) {
					break
				}
				met = append(met, string(k))
				if _, err := tr.Delete(k, nil); err != nil {
					t.Fatal(err)
				}
				if step > 0 {
					k, _, _ = c.Next()
				} else {
					k, _, _ = c.Prev()
				}
			}
			if c.Err() != nil {
				t.Fatal(c.Err())
			}
			if len(met) != hi-lo {
				t.Fatalf("met %d keys of %d", len(met), hi-lo)
			}
			for i, k := range met {
				want := key(lo + i)
				if step < 0 {
					want = key(hi - 1 - i)
				}
				if k != string(want) {
					t.Fatalf("key %d met is %s, want %s", i, k, want)
				}
			}
		})
	}
}

// droppedCursor is where a cursor that only its own Deletes changed the
// tree under stands: on keys[pos], or with deleted before it (past the
// end when pos is len(keys)); pos -1: never moved.
type droppedCursor struct {
	keys    []string
	pos     int
	deleted bool
}

func (m *droppedCursor) at() string {
	if m.pos < 0 || m.pos >= len(m.keys) {
		return ""
	}
	return m.keys[m.pos]
}

func (m *droppedCursor) move(op string, seek string) string {
	switch op {
	case "first":
		m.pos, m.deleted = 0, false
	case "last":
		m.pos, m.deleted = max(len(m.keys)-1, 0), false
	case "seek":
		m.pos, _ = slices.BinarySearch(m.keys, seek)
		m.deleted = false
	case "next":
		switch {
		case m.pos < 0:
			return ""
		case m.deleted:
			m.deleted = false
		case m.pos+1 < len(m.keys):
			m.pos++
		default:
			return ""
		}
	case "prev":
		if m.pos < 0 {
			return ""
		}
		m.deleted = false
		if m.pos == 0 {
			return ""
		}
		m.pos--
	}
	return m.at()
}

// TestDeleteModel: random First, Last, Seek, Next, Prev and
// Cursor.Delete on one cursor, between Tree.Puts at both ends and
// Tree.Deletes (after which the cursor is repositioned before it is
// checked again), against a sorted model: deletes from either end and
// runs of Delete then Next or Prev empty leaves and branches, which
// leave the tree at once.
func TestDeleteModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 23))
	for round := range 40 {
		m := newMemPages(1024)
		n := []int{0, 50, 800, 3000}[round%4]
		root, sum, _ := drainTree(t, m, n)
		tr := New(m, root, sum)
		mc := &droppedCursor{pos: -1}
		for i := range n {
			mc.keys = append(mc.keys, fmt.Sprintf("k%06d", i))
		}
		head, tail := -1, n
		c := tr.NewCursor()
		known := true
		var log []string
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("round %d: %s; last ops %v", round, fmt.Sprintf(format, args...), log[max(0, len(log)-12):])
		}
		key := func(i int) string {
			if i < 0 {
				return fmt.Sprintf("j%06d", 1000000+i)
			}
			return fmt.Sprintf("k%06d", i)
		}
		put := func(k string) {
			if err := tr.Put([]byte(k), []byte("v"+k), 0, nil); err != nil {
				t.Fatal(err)
			}
			if i, found := slices.BinarySearch(mc.keys, k); !found {
				mc.keys = slices.Insert(mc.keys, i, k)
			}
			known = false
		}
		for range 1500 {
			// One move or change, or a burst: pops from an end, runs
			// of Delete then Next or Prev.
			plan := []string{[]string{"first", "last", "seek", "next", "prev", "delete", "put", "tree delete"}[rng.IntN(8)]}
			if burst := 1 + rng.IntN(120); rng.IntN(3) == 0 {
				pair := [][]string{{"first", "delete"}, {"last", "delete"}, {"delete", "next"}, {"delete", "prev"}}[rng.IntN(4)]
				plan = nil
				for range burst {
					plan = append(plan, pair...)
				}
			}
			for _, op := range plan {
				if !known && (op == "next" || op == "prev" || op == "delete") {
					op = []string{"first", "last", "seek"}[rng.IntN(3)]
				}
				var k []byte
				want := ""
				switch op {
				case "first", "last", "seek", "next", "prev":
					sk := key(head + rng.IntN(tail-head+1))
					switch op {
					case "first":
						k, _, _ = c.First()
					case "last":
						k, _, _ = c.Last()
					case "seek":
						op += " " + sk
						k, _, _ = c.Seek([]byte(sk))
					case "next":
						k, _, _ = c.Next()
					case "prev":
						k, _, _ = c.Prev()
					}
					want = mc.move(strings.Fields(op)[0], sk)
					known = true
				case "delete":
					target := mc.at()
					if mc.pos < 0 {
						target = ""
					}
					var err error
					k, err = c.Delete(nil)
					if err != nil {
						fail("Delete: %v", err)
					}
					want = target
					if target != "" {
						mc.keys = slices.Delete(mc.keys, mc.pos, mc.pos+1)
						mc.deleted = true
					}
				case "put":
					where := rng.IntN(3)
					for range 1 + rng.IntN(200) {
						switch where {
						case 0:
							put(key(head))
							head--
						case 1:
							put(key(tail))
							tail++
						default:
							put(key(head + rng.IntN(tail-head+1)))
						}
					}
					continue
				case "tree delete":
					for range 1 + rng.IntN(100) {
						if len(mc.keys) == 0 {
							break
						}
						i := rng.IntN(len(mc.keys))
						switch rng.IntN(3) {
						case 0:
							i = 0
						case 1:
							i = len(mc.keys) - 1
						}
						if found, err := tr.Delete([]byte(mc.keys[i]), nil); !found || err != nil {
							fail("Tree.Delete(%s) = %v, %v", mc.keys[i], found, err)
						}
						mc.keys = slices.Delete(mc.keys, i, i+1)
					}
					known = false
					continue
				}
				log = append(log, op+"="+string(k))
				if string(k) != want || c.Err() != nil {
					fail("%s = %q, want %q (err %v)", op, k, want, c.Err())
				}
			}
		}
		got, _ := walkAll(t, tr)
		if len(got) != len(mc.keys) {
			t.Fatalf("round %d: %d keys, want %d", round, len(got), len(mc.keys))
		}
		for _, k := range mc.keys {
			if _, ok := got[k]; !ok {
				t.Fatalf("round %d: %s missing", round, k)
			}
		}
		commitTree(t, tr, m)
		got, _ = walkAll(t, tr)
		if len(got) != len(mc.keys) {
			t.Fatalf("round %d: after the commit %d keys, want %d", round, len(got), len(mc.keys))
		}
	}
}

// TestPrevAfterEndOverDroppedLeaves: Deletes from a key to the
// end of the tree drop the leaves they empty, and the last Delete finds
// nothing after them; Next then finds nothing, and Prev and Next go on
// from the last key left, as bbolt's cursor does at the end (a version
// that found its place again by the parent's index and the edge of the
// leaf left it one child short, found by TestBboltDiff).
func TestPrevAfterEndOverDroppedLeaves(t *testing.T) {
	m := newMemPages(1024)
	root, sum, _ := threeLevelTree(t, m, 3000)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }
	for _, from := range []int{2990, 2500, 1000} {
		t.Run(fmt.Sprint(from), func(t *testing.T) {
			m.rollback()
			tr := New(m, root, sum)
			c := tr.NewCursor()
			c.Seek(key(from))
			for i := from; ; i++ {
				k, err := c.Delete(nil)
				if err != nil {
					t.Fatal(err)
				}
				if k == nil {
					if i != 3000 {
						t.Fatalf("Delete removed nothing at %d", i)
					}
					break
				}
			}
			for i, step := range []struct {
				name string
				move func() ([]byte, []byte, uint32)
				want []byte
			}{
				{"Next", c.Next, nil},
				{"Next", c.Next, nil},
				{"Prev", c.Prev, key(from - 1)},
				{"Prev", c.Prev, key(from - 2)},
				{"Next", c.Next, key(from - 1)},
				{"Next", c.Next, nil}, // stays on the last key
				{"Prev", c.Prev, key(from - 2)},
			} {
				if k, _, _ := step.move(); !bytes.Equal(k, step.want) || c.Err() != nil {
					t.Fatalf("step %d: %s = %q (%v), want %q", i, step.name, k, c.Err(), step.want)
				}
			}
		})
	}
}

// TestDrainedTreeRebalances: a parent that loses children to
// dropEmpty is marked for Rebalance, which merges it at the commit: a
// tree drained from either end, or in the middle, but for a few leaves
// ends with one branch over them, as when the emptied leaves stayed
// until the commit.
func TestDrainedTreeRebalances(t *testing.T) {
	key := func(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }
	for _, how := range []string{"first", "last", "middle"} {
		t.Run(how, func(t *testing.T) {
			m := newMemPages(1024)
			root, sum, _ := threeLevelTree(t, m, 3000)
			tr := New(m, root, sum)
			c := tr.NewCursor()
			if how == "middle" {
				c.Seek(key(100))
			}
			for range 2800 {
				switch how {
				case "first":
					c.First()
				case "last":
					c.Last()
				}
				if k, err := c.Delete(nil); k == nil || err != nil {
					t.Fatalf("Delete = %q, %v", k, err)
				}
			}
			commitTree(t, tr, m)
			branches := 0
			tr.Walk(true, Walker{
				Page: func(id page.ID, n int, kind page.Flags, depth int) {
					if kind == page.FlagBranch {
						branches++
					}
				},
				Problem: func(err error) { t.Fatalf("walk: %v", err) },
			})
			if got, _ := walkAll(t, tr); len(got) != 200 || branches != 1 {
				t.Fatalf("%d keys under %d branch pages, want 200 under one", len(got), branches)
			}
		})
	}
}
