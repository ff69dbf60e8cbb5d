package btree

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/foliodb/folio/page"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: random)")

// memPages is a Pages over a byte slice: committed runs live in file,
// freed runs are reused only after the "commit" that freed them.
type memPages struct {
	ps      int
	file    []byte
	high    page.ID
	tx      page.TxID
	free    map[page.ID]int // id -> run length, reusable
	pending map[page.ID]int
	dirty   map[page.ID][]byte
}

func newMemPages(ps int) *memPages {
	return &memPages{ps: ps, high: 2, tx: 1, free: map[page.ID]int{}, pending: map[page.ID]int{}, dirty: map[page.ID][]byte{}}
}

func (m *memPages) Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	// Only committed pages can be read: a spill reads siblings after it
	// has allocated (and raised high).
	high := page.ID(len(m.file) / m.ps)
	if id < 2 || id >= high {
		return nil, page.Corruptf(id, "page id", fmt.Sprintf("< %d", high), fmt.Sprint(id))
	}
	_, err := page.CheckRun(m.file[int(id)*m.ps:], id, m.ps, kind, sum, true)
	if err != nil {
		return nil, err
	}
	n := int(page.PageOverflow(m.file[int(id)*m.ps:])+1) * m.ps
	return m.file[int(id)*m.ps : int(id)*m.ps+n], nil
}

func (m *memPages) Allocate(n int) (page.ID, error) {
	for id, l := range m.free {
		if l == n {
			delete(m.free, id)
			return id, nil
		}
	}
	id := m.high
	m.high += page.ID(n)
	return id, nil
}

func (m *memPages) Free(id page.ID, n int) {
	if _, dup := m.pending[id]; dup {
		panic(fmt.Sprintf("double free of %d", id))
	}
	m.pending[id] = n
}
func (m *memPages) Write(id page.ID, run []byte) { m.dirty[id] = run }
func (m *memPages) Buffer(n int) []byte          { return make([]byte, n*m.ps) }
func (m *memPages) PageSize() int                { return m.ps }
func (m *memPages) TxID() page.TxID              { return m.tx }

// commit writes dirty runs into the file and makes pending runs reusable.
func (m *memPages) commit() {
	if need := int(m.high) * m.ps; need > len(m.file) {
		m.file = append(m.file, make([]byte, need-len(m.file))...)
	}
	for id, run := range m.dirty {
		copy(m.file[int(id)*m.ps:], run)
	}
	for id, n := range m.pending {
		m.free[id] = n
	}
	m.dirty, m.pending = map[page.ID][]byte{}, map[page.ID]int{}
	m.tx++
}

func seed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// commitTree rebalances and spills tr and commits its pages to m, as a
// transaction's commit does.
func commitTree(t testing.TB, tr *Tree, m *memPages) {
	t.Helper()
	if err := tr.Rebalance(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Spill(); err != nil {
		t.Fatal(err)
	}
	m.commit()
}

// walkAll checks the tree and returns its contents and page count.
func walkAll(t *testing.T, tr *Tree) (map[string]string, int) {
	t.Helper()
	got := map[string]string{}
	pages := 0
	tr.Walk(true, Walker{
		Page:    func(id page.ID, n int, kind page.Flags, depth int) { pages += n },
		Problem: func(err error) { t.Fatalf("walk: %v", err) },
	})
	c := tr.NewCursor()
	for k, v, _ := c.First(); k != nil; k, v, _ = c.Next() {
		got[string(k)] = string(v)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	return got, pages
}

func TestTreeRandomized(t *testing.T) {
	for _, ps := range []int{1024, 4096} {
		t.Run(fmt.Sprintf("page=%d", ps), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed(t), 1))
			m := newMemPages(ps)
			tr := New(m, 0, 0)
			model := map[string]string{}
			for round := 0; round < 60; round++ {
				ops := rng.IntN(400)
				for i := 0; i < ops; i++ {
					k := fmt.Sprintf("k%05d", rng.IntN(3000))
					switch r := rng.IntN(10); {
					case r < 6:
						vlen := rng.IntN(40)
						if rng.IntN(20) == 0 {
							vlen = ps/4 + rng.IntN(3*ps)
						}
						v := bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, vlen)
						if err := tr.Put([]byte(k), v, 0, nil); err != nil {
							t.Fatal(err)
						}
						model[k] = string(v)
					default:
						if _, err := tr.Delete([]byte(k), nil); err != nil {
							t.Fatal(err)
						}
						delete(model, k)
					}
				}
				commitTree(t, tr, m)
				got, _ := walkAll(t, tr)
				if len(got) != len(model) {
					t.Fatalf("round %d: %d keys, model %d", round, len(got), len(model))
				}
				for k, v := range model {
					if got[k] != v {
						t.Fatalf("round %d: key %s differs", round, k)
					}
					gv, _, found, err := tr.Get([]byte(k))
					if err != nil || !found || string(gv) != v {
						t.Fatalf("round %d: Get %s: found=%v err=%v", round, k, found, err)
					}
				}
			}
			// Delete everything: the tree gives all its pages back.
			for k := range model {
				if _, err := tr.Delete([]byte(k), nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := tr.Rebalance(); err != nil {
				t.Fatal(err)
			}
			if err := tr.Spill(); err != nil {
				t.Fatal(err)
			}
			if root, _ := tr.Root(); root != 0 {
				t.Fatalf("empty tree kept root %d", root)
			}
		})
	}
}

func TestCursorSeekPrevDelete(t *testing.T) {
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	var keys []string
	for i := 0; i < 500; i++ {
		k := fmt.Sprintf("%04d", i*2)
		keys = append(keys, k)
		if err := tr.Put([]byte(k), []byte("v"+k), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Spill(); err != nil {
		t.Fatal(err)
	}
	m.commit()
	c := tr.NewCursor()
	if k, _, _ := c.Seek([]byte("0101")); string(k) != "0102" {
		t.Fatalf("seek 0101 = %q", k)
	}
	if k, _, _ := c.Prev(); string(k) != "0100" {
		t.Fatalf("prev = %q", k)
	}
	if k, _, _ := c.Seek([]byte("9999")); k != nil {
		t.Fatalf("seek past end = %q", k)
	}
	var back []string
	for k, _, _ := c.Last(); k != nil; k, _, _ = c.Prev() {
		back = append(back, string(k))
	}
	sort.Strings(back)
	if fmt.Sprint(back) != fmt.Sprint(keys) {
		t.Fatal("reverse walk differs")
	}
	// Delete every other key with the cursor: Next after Delete must not skip.
	n := 0
	for k, _, _ := c.First(); k != nil; k, _, _ = c.Next() {
		if n%2 == 0 {
			if _, err := c.Delete(nil); err != nil {
				t.Fatal(err)
			}
		}
		n++
	}
	if n != 500 {
		t.Fatalf("visited %d keys while deleting, want 500", n)
	}
	commitTree(t, tr, m)
	got, _ := walkAll(t, tr)
	if len(got) != 250 {
		t.Fatalf("%d keys left, want 250", len(got))
	}
}

// TestLargeTransactionSplitsAsItGoes puts many random keys before one
// spill: nodes split in memory on the way (no node exceeds maxNodePages),
// and the result is a valid tree with every key.
func TestLargeTransactionSplitsAsItGoes(t *testing.T) {
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	rng := rand.New(rand.NewPCG(seed(t), 7))
	want := map[string]string{}
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("%08x", rng.Uint32())
		want[k] = k + "v"
		if err := tr.Put([]byte(k), []byte(k+"v"), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	var biggest func(n *Node) int
	biggest = func(n *Node) int {
		s := n.size()
		for i := range n.inodes {
			if c := n.inodes[i].node; c != nil {
				s = max(s, biggest(c))
			}
		}
		return s
	}
	if b := biggest(tr.rootNode); b > (maxNodePages+1)*1024 {
		t.Fatalf("a materialised node holds %d bytes", b)
	}
	if err := tr.Spill(); err != nil {
		t.Fatal(err)
	}
	m.commit()
	got, _ := walkAll(t, tr)
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %s", k)
		}
	}
}
