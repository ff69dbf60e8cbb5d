package btree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/page/pagetest"
)

// checksummingPages reads runs as a transaction that verifies checksums on
// read does (Check's, and the free-list rebuild at open): Run recomputes
// the CRC of the whole run. It counts the bytes it checksums (summed).
type checksummingPages struct {
	*memPages
	summed int
}

func (m *checksummingPages) run(id page.ID, kind page.Flags, sum uint32, verify bool) ([]byte, error) {
	high := page.ID(len(m.file) / m.ps)
	if id < 2 || id >= high {
		return nil, page.Corruptf(id, "page id", fmt.Sprintf("< %d", high), fmt.Sprint(id))
	}
	if verify { // the CRC's cost, whether it then fails or not
		if n, err := page.CheckRun(m.file[int(id)*m.ps:], id, m.ps, kind, sum, false); err == nil {
			m.summed += n
		}
	}
	n, err := page.CheckRun(m.file[int(id)*m.ps:], id, m.ps, kind, sum, verify)
	if err != nil {
		return nil, err
	}
	return m.file[int(id)*m.ps : int(id)*m.ps+n], nil
}

func (m *checksummingPages) Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	return m.run(id, kind, sum, true)
}

func (m *checksummingPages) RunHead(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	return m.run(id, kind, sum, false)
}

func (m *checksummingPages) VerifiesRuns() bool { return true }

// overlapTree builds, in a file every checksum approves, a branch (a run
// of several pages at page 2) over runs children: leaves of one element,
// child i a run of i+1 pages ending at the file's end, so each child
// overlaps all those before it. It returns the pages, the tree, the branch's length
// and the children's first pages, in the branch's order.
func overlapTree(runs int) (*checksummingPages, *Tree, int, []page.ID) {
	m := newMemPages(1024)
	branch := pagetest.OverlapBranchPages(m.ps, runs)
	high := page.ID(2 + branch + runs)
	m.file = make([]byte, int(high)*m.ps)
	m.high = high
	sum, ids := pagetest.OverlappingRuns(m.file, m.ps, 2, 1, runs, false)
	v := &checksummingPages{memPages: m}
	return v, New(v, 2, sum), branch, ids
}

// TestWalkOverlappingRuns walks a branch whose children are runs that
// overlap one another, with a page source that checksums every run it
// reads: each child after the first is reported reachable twice, naming
// the page of the child before it, and from the third on without its CRC
// being computed (that was 1+2+...+runs pages of CRC, quadratic in the
// file's size; a run may be 2^20 pages).
func TestWalkOverlappingRuns(t *testing.T) {
	const runs = 300
	m, tr, branch, ids := overlapTree(runs)
	twice := map[page.ID]int{}
	var walked []page.ID
	tr.Walk(true, Walker{
		Page: func(id page.ID, n int, kind page.Flags, depth int) { walked = append(walked, id) },
		Problem: func(err error) {
			var ce *page.CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "reachable twice") {
				t.Errorf("problem %v, want only pages reachable twice", err)
				return
			}
			twice[ce.Page]++
		},
	})
	if want := []page.ID{2, ids[0]}; fmt.Sprint(walked) != fmt.Sprint(want) {
		t.Errorf("walked runs %v, want %v", walked, want)
	}
	for i := 1; i < runs; i++ {
		if twice[ids[i-1]] != 1 {
			t.Errorf("child %d: page %d reported reachable twice %d times, want once", i, ids[i-1], twice[ids[i-1]])
		}
	}
	if len(twice) != runs-1 {
		t.Errorf("%d pages reported reachable twice, want %d", len(twice), runs-1)
	}
	// The second child's overlap is found after its CRC, and makes the
	// walk read each later run's header first.
	if want := (branch + 1 + 2) * m.ps; m.summed != want {
		t.Errorf("checksummed %d bytes, want %d: the branch and the first two children once", m.summed, want)
	}
}

// TestFreeAllOverlappingLarge frees a leaf whose large values' runs
// overlap one another as overlapTree's children do, each with a checksum
// its bytes do not have. FreeAll passes over a run it cannot read (it
// stays allocated, for Check to report), so it used to checksum them
// all: 1+2+...+n pages. Now the first failure makes it wary, and the
// second is refused from its header: ErrCorrupt, reachable twice, naming
// the first.
func TestFreeAllOverlappingLarge(t *testing.T) {
	const runs = 100
	m := newMemPages(1024)
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }
	elem := page.HintSize + page.LeafElemSize + len(key(0)) + page.LargeRefSize
	leaf := (page.HeaderSize + runs*elem + m.ps - 1) / m.ps
	high := page.ID(2 + leaf + runs)
	m.file = make([]byte, int(high)*m.ps)
	m.high = high
	ids := make([]page.ID, runs)
	refs := make([][page.LargeRefSize]byte, runs)
	for i := range runs {
		id := high - 1 - page.ID(i)
		run := m.file[int(id)*m.ps:]
		page.PutHeader(run, id, 1, page.FlagLarge, 0, uint32(i))
		run[page.HeaderSize] = 'v'
		sum := page.Seal(run) ^ 1 // the header and the leaf agree on it; the bytes do not
		binary.LittleEndian.PutUint32(run, sum)
		ids[i] = id
		page.LargeRef{Page: id, Size: 1, Sum: sum}.Encode(refs[i][:])
	}
	run := m.file[2*m.ps : (2+leaf)*m.ps]
	page.PutHeader(run, 2, 1, page.FlagLeaf, runs, uint32(leaf-1))
	off := page.HeaderSize + runs*(page.HintSize+page.LeafElemSize)
	for i := range runs {
		page.PutHint(run, i, key(i))
		page.PutLeafElem(run, i, page.LeafLarge, off, len(key(i)), page.LargeRefSize)
		off += copy(run[off:], key(i))
		off += copy(run[off:], refs[i][:])
	}
	v := &checksummingPages{memPages: m}
	tr := New(v, 2, page.Seal(run))
	err := tr.FreeAll(nil, nil)
	var ce *page.CorruptError
	if !errors.As(err, &ce) || ce.Page != ids[0] || !strings.Contains(err.Error(), "reachable twice") {
		t.Errorf("FreeAll: %v, want ErrCorrupt: page %d reachable twice", err, ids[0])
	}
	if want := (leaf + 1) * m.ps; v.summed != want {
		t.Errorf("checksummed %d bytes, want %d: the leaf and the first run once", v.summed, want)
	}
}

// TestPageSetAddStops: add stops at the first page already in the set,
// and firstIn finds it without adding any: work linear in the pages
// added, however many runs overlap.
func TestPageSetAddStops(t *testing.T) {
	s := NewPageSet(100)
	s.add(10, 5) // 10..14
	if dup, twice := s.firstIn(8, 10); !twice || dup != 10 || s.has(8) {
		t.Errorf("firstIn(8, 10) = %d, %v (page 8 added: %v); want 10, true, none added", dup, twice, s.has(8))
	}
	if dup, twice := s.add(8, 10); !twice || dup != 10 {
		t.Errorf("add(8, 10) = %d, %v; want 10, true", dup, twice)
	}
	for id := page.ID(5); id < 20; id++ {
		if want := id >= 8 && id < 15; s.has(id) != want {
			t.Errorf("has(%d) = %v, want %v", id, !want, want)
		}
	}
	if _, twice := s.firstIn(15, 100); twice {
		t.Error("firstIn past the last page added found one")
	}
}
