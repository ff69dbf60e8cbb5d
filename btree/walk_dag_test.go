package btree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// Trees a hostile file can hold with every checksum right: parents record
// their children's checksums, not that each child has one parent. Walk
// and FreeAll must visit each page once and call a page reached again a
// problem, never walk every path (fanout^depth) or free a page twice.

// lenientPages reads runs as a transaction without VerifyChecksums does:
// only the checksum stored in the header is compared with what the
// parent expects, so a crafted file can even hold a cycle.
type lenientPages struct{ *memPages }

func (m lenientPages) Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	high := page.ID(len(m.file) / m.ps)
	if id < 2 || id >= high {
		return nil, page.Corruptf(id, "page id", fmt.Sprintf("< %d", high), fmt.Sprint(id))
	}
	n, err := page.CheckRun(m.file[int(id)*m.ps:], id, m.ps, kind, sum, false)
	if err != nil {
		return nil, err
	}
	return m.file[int(id)*m.ps : int(id)*m.ps+n], nil
}

// putLeaf writes at id a leaf of one element, key "k", with the given
// flags and stored value, and returns its checksum.
func putLeaf(m *memPages, id page.ID, flags uint32, value []byte) uint32 {
	p := m.file[int(id)*m.ps : int(id+1)*m.ps]
	clear(p)
	page.PutHeader(p, id, 1, page.FlagLeaf, 1, 0)
	key := []byte("k")
	page.PutHint(p, 0, key)
	koff := page.HeaderSize + page.HintSize + page.LeafElemSize
	page.PutLeafElem(p, 0, flags, koff, len(key), len(value))
	copy(p[koff:], key)
	copy(p[koff+len(key):], value)
	return page.Seal(p)
}

// putBranch writes at id a branch whose fanout elements (keys "a", "b",
// ...) all point at child, and returns its checksum.
func putBranch(m *memPages, id page.ID, fanout int, child page.ID, sum uint32) uint32 {
	p := m.file[int(id)*m.ps : int(id+1)*m.ps]
	clear(p)
	page.PutHeader(p, id, 1, page.FlagBranch, fanout, 0)
	for i := 0; i < fanout; i++ {
		key := []byte{byte('a' + i)}
		koff := page.HeaderSize + fanout*(page.HintSize+page.BranchElemSize) + i
		page.PutHint(p, i, key)
		page.PutBranchElem(p, i, child, sum, koff, 1)
		copy(p[koff:], key)
	}
	return page.Seal(p)
}

// dagTree builds a chain of depth branches (pages 2 ..) over one leaf,
// each branch listing its child fanout times: fanout^depth paths to the
// leaf. With cycle, the last branch lists the first instead of the leaf
// (its stored checksum, as a reader without VerifyChecksums compares).
func dagTree(depth, fanout int, cycle bool) (*memPages, *Tree) {
	m := newMemPages(1024)
	leaf := page.ID(2 + depth)
	m.file = make([]byte, int(leaf+1)*m.ps)
	m.high = leaf + 1
	child, sum := leaf, putLeaf(m, leaf, 0, []byte("v"))
	if cycle {
		child, sum = 2, 0x5eed
	}
	for id := leaf - 1; id >= 2; id-- {
		sum = putBranch(m, id, fanout, child, sum)
		child = id
	}
	if cycle {
		// The root's stored checksum is what its descendant expects.
		binary.LittleEndian.PutUint32(m.file[2*m.ps:], 0x5eed)
		sum = 0x5eed
	}
	return m, New(lenientPages{m}, 2, sum)
}

// within runs f and fails the test if it has not returned after d: the
// tree walks here took fanout^depth steps before.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v: walking every path of a DAG?", what, d)
	}
}

func TestWalkSharedChildren(t *testing.T) {
	const depth, fanout = 20, 8
	for _, cycle := range []bool{false, true} {
		t.Run(fmt.Sprintf("cycle=%v", cycle), func(t *testing.T) {
			_, tr := dagTree(depth, fanout, cycle)
			pages := map[page.ID]int{}
			twice := map[page.ID]int{}
			within(t, 10*time.Second, "Walk", func() {
				tr.Walk(true, Walker{
					Page: func(id page.ID, n int, kind page.Flags, depth int) { pages[id]++ },
					Problem: func(err error) {
						var ce *page.CorruptError
						if !errors.As(err, &ce) {
							t.Errorf("problem %v is not a *CorruptError", err)
							return
						}
						if strings.Contains(err.Error(), "reachable twice") {
							twice[ce.Page]++
						}
					},
				})
			})
			want := depth + 1 // every branch and the leaf
			if cycle {
				want = depth
			}
			if len(pages) != want {
				t.Errorf("walked %d pages, want %d", len(pages), want)
			}
			for id, n := range pages {
				if n != 1 {
					t.Errorf("page %d walked %d times", id, n)
				}
			}
			// Each page a branch repeats is one problem: the leaf and the
			// branches under the root, or with the cycle every branch.
			if len(twice) != depth {
				t.Errorf("%d pages reported reachable twice, want %d: %v", len(twice), depth, twice)
			}
			for id, n := range twice {
				if n != 1 {
					t.Errorf("page %d reported reachable twice %d times", id, n)
				}
			}
		})
	}
}

// TestFreeAllShared frees trees whose branches repeat a child or loop
// back: FreeAll must stop with ErrCorrupt naming the page, not free it
// twice (memPages panics) or walk every path.
func TestFreeAllShared(t *testing.T) {
	const depth, fanout = 20, 8
	for _, cycle := range []bool{false, true} {
		t.Run(fmt.Sprintf("cycle=%v", cycle), func(t *testing.T) {
			_, tr := dagTree(depth, fanout, cycle)
			var err error
			within(t, 10*time.Second, "FreeAll", func() { err = tr.FreeAll(nil, nil) })
			var ce *page.CorruptError
			// A cycle's root holds a crafted checksum (no page can hold
			// its own), and FreeAll checks each page whole before it
			// frees it: the root's checksum is what it finds wrong.
			why := "reachable twice"
			if cycle {
				why = "checksum"
			}
			if !errors.Is(err, page.ErrCorrupt) || !errors.As(err, &ce) || !strings.Contains(err.Error(), why) {
				t.Fatalf("FreeAll: %v, want ErrCorrupt: %s", err, why)
			}
			want := page.ID(2 + depth) // the leaf, reached again from the last branch
			if cycle {
				want = 2 // the root
			}
			if ce.Page != want {
				t.Errorf("FreeAll named page %d, want %d", ce.Page, want)
			}
		})
	}
}

// TestFreeAllSharedLarge frees a leaf whose two elements name one large
// value's run: an error, not the run freed twice.
func TestFreeAllSharedLarge(t *testing.T) {
	m := newMemPages(1024)
	m.file = make([]byte, 5*m.ps)
	m.high = 5
	run := m.file[4*m.ps : 5*m.ps]
	page.PutHeader(run, 4, 1, page.FlagLarge, 0, 0)
	copy(run[page.HeaderSize:], "large")
	ref := page.LargeRef{Page: 4, Size: 5, Sum: page.Seal(run)}
	var v [page.LargeRefSize]byte
	ref.Encode(v[:])
	// Page 3: a leaf with two elements, both the same descriptor.
	p := m.file[3*m.ps : 4*m.ps]
	page.PutHeader(p, 3, 1, page.FlagLeaf, 2, 0)
	off := page.HeaderSize + 2*(page.HintSize+page.LeafElemSize)
	for i, k := range []string{"a", "b"} {
		page.PutHint(p, i, []byte(k))
		page.PutLeafElem(p, i, page.LeafLarge, off, 1, len(v))
		copy(p[off:], k)
		copy(p[off+1:], v[:])
		off += 1 + len(v)
	}
	sum := page.Seal(p)

	tr := New(m, 3, sum)
	var problems []error
	tr.Walk(true, Walker{Problem: func(err error) { problems = append(problems, err) }})
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "corrupt page 4: references") {
		t.Errorf("Walk: %v, want one problem: page 4 reachable twice", problems)
	}
	err := tr.FreeAll(nil, nil)
	var ce *page.CorruptError
	if !errors.As(err, &ce) || ce.Page != 4 {
		t.Errorf("FreeAll: %v, want ErrCorrupt naming page 4", err)
	}
}

// TestFreeAllHealthy frees a healthy tree with large values, partly
// materialised: every page it walks is freed, each once (memPages
// panics on a double free).
func TestFreeAllHealthy(t *testing.T) {
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	big := strings.Repeat("x", 600)
	for i := 0; i < 500; i++ {
		v := "v"
		if i%10 == 0 {
			v = big
		}
		if err := tr.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(v), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	commitTree(t, tr, m)
	walked := map[page.ID]int{}
	tr.Walk(true, Walker{
		Page:    func(id page.ID, n int, kind page.Flags, depth int) { walked[id] = n },
		Problem: func(err error) { t.Fatalf("walk: %v", err) },
	})
	// Materialise a path, as a write before the delete would.
	if err := tr.Put([]byte("k0250"), []byte("new"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := tr.FreeAll(nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(m.pending) != len(walked) {
		t.Errorf("freed %d runs, want the %d walked", len(m.pending), len(walked))
	}
	for id, n := range walked {
		if m.pending[id] != n {
			t.Errorf("run %d of %d pages: freed %d", id, n, m.pending[id])
		}
	}
}

func TestPageSet(t *testing.T) {
	s := NewPageSet(3 * chunkPages)
	if _, twice := s.add(chunkPages-2, 4); twice { // across a chunk boundary
		t.Fatal("an empty set holds a page")
	}
	for id := page.ID(chunkPages - 3); id < chunkPages+3; id++ {
		if want := id >= chunkPages-2 && id < chunkPages+2; s.has(id) != want {
			t.Errorf("has(%d) = %v, want %v", id, !want, want)
		}
	}
	if dup, twice := s.add(chunkPages-5, 5); !twice || dup != chunkPages-2 {
		t.Errorf("overlapping add: %d, %v; want page %d twice", dup, twice, chunkPages-2)
	}
	if !s.has(chunkPages - 5) {
		t.Error("an overlapping run's pages are not added")
	}
	// Pages past the file are never added, and cost no chunk.
	s.add(1<<40, 1)
	s.add(3*chunkPages-1, 10)
	if s.has(1<<40) || s.has(3*chunkPages) || !s.has(3*chunkPages-1) || len(s.chunks) != 3 {
		t.Errorf("pages past the end: %d chunks", len(s.chunks))
	}
	if !s.firstTwice(7) || s.firstTwice(7) {
		t.Error("firstTwice is not true once per page")
	}
}
