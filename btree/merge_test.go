package btree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// longKey makes keys that share a long prefix, so separators stay long
// and branches hold few children: a small tree gets several levels.
func longKey(i int) []byte {
	return []byte(fmt.Sprintf("%s%05d", bytes.Repeat([]byte("p"), 150), i))
}

// checkTree walks tr (every problem fails the test) and compares it,
// by cursor and by Get, with model.
func checkTree(t *testing.T, tr *Tree, model map[string]string) {
	t.Helper()
	got := map[string]string{}
	seen := map[page.ID]bool{}
	tr.Walk(true, Walker{
		Page: func(id page.ID, n int, _ page.Flags, _ int) {
			for i := 0; i < n; i++ {
				if seen[id+page.ID(i)] {
					t.Fatalf("page %d reachable twice", id+page.ID(i))
				}
				seen[id+page.ID(i)] = true
			}
		},
		Problem: func(err error) { t.Fatalf("walk: %v", err) },
	})
	if m, ok := tr.pages.(*memPages); ok {
		// Reachable and free pages partition the file: none leaked.
		for id, n := range m.free {
			for i := 0; i < n; i++ {
				if seen[id+page.ID(i)] {
					t.Fatalf("page %d reachable and free", id+page.ID(i))
				}
				seen[id+page.ID(i)] = true
			}
		}
		if len(seen) != int(m.high)-2 {
			t.Fatalf("%d pages reachable or free, file has %d", len(seen), int(m.high)-2)
		}
	}
	c := tr.NewCursor()
	for k, v, _ := c.First(); k != nil; k, v, _ = c.Next() {
		got[string(k)] = string(v)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	if len(got) != len(model) {
		t.Fatalf("%d keys, model %d", len(got), len(model))
	}
	for k, v := range model {
		if got[k] != v {
			t.Fatalf("cursor: key %q...: differs", k[len(k)-5:])
		}
		gv, _, found, err := tr.Get([]byte(k))
		if err != nil || !found || string(gv) != v {
			t.Fatalf("Get %q...: found=%v err=%v", k[len(k)-5:], found, err)
		}
	}
}

// TestTreeMergeRandomized deletes and reinserts runs of keys in a deep
// tree of small branches, so that branches merge while some of their
// children hold keys below the branch's first key.
func TestTreeMergeRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 11))
	for iter := 0; iter < 20; iter++ {
		m := newMemPages(1024)
		tr := New(m, 0, 0)
		model := map[string]string{}
		const n = 800
		for i := 0; i < n; i++ {
			k := longKey(i)
			if err := tr.Put(k, []byte("v"), 0, nil); err != nil {
				t.Fatal(err)
			}
			model[string(k)] = "v"
		}
		commitTree(t, tr, m)
		checkTree(t, tr, model)
		for round := 0; round < 30; round++ {
			ops := 1 + rng.IntN(4)
			for o := 0; o < ops; o++ {
				lo := rng.IntN(n)
				hi := min(n, lo+rng.IntN(120))
				del := rng.IntN(3) != 0
				for i := lo; i < hi; i++ {
					if rng.IntN(8) == 0 {
						continue
					}
					k := longKey(i)
					if del {
						if _, err := tr.Delete(k, nil); err != nil {
							t.Fatal(err)
						}
						delete(model, string(k))
					} else {
						v := fmt.Sprint(round)
						if err := tr.Put(k, []byte(v), 0, nil); err != nil {
							t.Fatal(err)
						}
						model[string(k)] = v
					}
				}
			}
			commitTree(t, tr, m)
			checkTree(t, tr, model)
		}
	}
}

// TestTreeShapesRandomized mixes what shapes a tree: fills from 0.1 to
// 1, keys from 1 byte to several pages, large values (out of line) and
// values just under the line, transactions big enough to split nodes as
// they go, runs of deletes that empty leaves and branches, and loads in
// key order; after each commit the tree is walked, its pages accounted
// for and its contents compared with a model.
func TestTreeShapesRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 13))
	for iter := 0; iter < 5; iter++ {
		ps := []int{1024, 4096}[rng.IntN(2)]
		m := newMemPages(ps)
		tr := New(m, 0, 0)
		model := map[string]string{}
		prefix := bytes.Repeat([]byte("q"), rng.IntN(300))
		key := func(i int) string {
			k := fmt.Appendf(bytes.Clone(prefix), "%06d", i)
			if i%97 == 0 {
				k = append(k, bytes.Repeat([]byte("z"), rng.IntN(2*ps))...)
			}
			return string(k)
		}
		value := func() []byte {
			switch rng.IntN(12) {
			case 0:
				return bytes.Repeat([]byte{byte(rng.Uint32())}, ps/4+1+rng.IntN(2*ps))
			case 1:
				return bytes.Repeat([]byte{byte(rng.Uint32())}, ps/4)
			case 2:
				return nil
			}
			return bytes.Repeat([]byte{byte(rng.Uint32())}, rng.IntN(60))
		}
		const space = 4000
		for round := 0; round < 40; round++ {
			tr.Fill = 0.1 + 0.9*rng.Float64()
			tr.AppendFill = []float64{0, 0.5, 1}[rng.IntN(3)]
			for o := 1 + rng.IntN(4); o > 0; o-- {
				lo := rng.IntN(space)
				hi := min(space, lo+rng.IntN(800))
				switch rng.IntN(4) {
				case 0, 1: // delete a run, most of it
					for i := lo; i < hi; i++ {
						if rng.IntN(10) == 0 {
							continue
						}
						k := key(i)
						found, err := tr.Delete([]byte(k), nil)
						if err != nil {
							t.Fatal(err)
						}
						if _, ok := model[k]; ok != found {
							t.Fatalf("Delete found=%v, model %v", found, ok)
						}
						delete(model, k)
					}
				case 2: // a load in key order
					for i := lo; i < hi; i++ {
						k, v := key(i), value()
						if err := tr.Put([]byte(k), v, 0, nil); err != nil {
							t.Fatal(err)
						}
						model[k] = string(v)
					}
				default: // random puts
					for i := lo; i < hi; i++ {
						k, v := key(lo+rng.IntN(hi-lo)), value()
						if err := tr.Put([]byte(k), v, 0, nil); err != nil {
							t.Fatal(err)
						}
						model[k] = string(v)
					}
				}
			}
			commitTree(t, tr, m)
			checkTree(t, tr, model)
		}
		for k := range model {
			if _, err := tr.Delete([]byte(k), nil); err != nil {
				t.Fatal(err)
			}
		}
		commitTree(t, tr, m)
		if root, _ := tr.Root(); root != 0 {
			t.Fatalf("empty tree kept root %d", root)
		}
		checkTree(t, tr, map[string]string{})
	}
}

// TestRebalanceBranchMergeKeepsLowKeys merges a branch whose first child
// holds a key below the branch's own first key into its left sibling.
// The key was routed to that child by the parent's key for the branch;
// after the merge it must still be found (it was lost: the child's entry
// kept the branch's first key, so lookups went to the child before it).
func TestRebalanceBranchMergeKeepsLowKeys(t *testing.T) {
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	model := map[string]string{}
	for i := 0; i < 60; i++ {
		model[string(longKey(i))] = "v"
		if err := tr.Put(longKey(i), []byte("v"), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	commitTree(t, tr, m)
	// The root's second child is a branch; its keys are [lo, hi).
	root, err := m.Run(tr.root, page.FlagBranch, tr.rootSum)
	if err != nil {
		t.Fatal(err)
	}
	if id, sum := page.BranchChild(root, 1); page.PageCount(root) < 3 || !isBranch(m, id, sum) {
		t.Fatalf("want a root over 3+ branches, root has %d children", page.PageCount(root))
	}
	lo, _ := page.BranchKey(root, 1)
	hi, _ := page.BranchKey(root, 2)
	lo, hi = bytes.Clone(lo), bytes.Clone(hi)
	// Its smallest key goes: the branch's first key moves up, past the
	// root's key for it.
	if _, err := tr.Delete(lo, nil); err != nil {
		t.Fatal(err)
	}
	delete(model, string(lo))
	commitTree(t, tr, m)
	checkTree(t, tr, model)
	// The key comes back (into the branch's first child, below its first
	// key), and every other key of the branch goes, so the branch is
	// left with one child and merges into its left sibling.
	if err := tr.Put(lo, []byte("back"), 0, nil); err != nil {
		t.Fatal(err)
	}
	model[string(lo)] = "back"
	for k := range model {
		if k > string(lo) && k < string(hi) {
			if _, err := tr.Delete([]byte(k), nil); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		}
	}
	commitTree(t, tr, m)
	checkTree(t, tr, model)
}

// FuzzTreeOps runs the operations the input spells against a tree with
// 1 KiB pages and a model: each 3 bytes are an operation (put, delete,
// delete a run, commit, change fills), a key and a size.
func FuzzTreeOps(f *testing.F) {
	f.Add([]byte("\x00\x01\x10\x00\x02\x20\x03\x00\x00\x01\x01\x00"))
	f.Add(bytes.Repeat([]byte("\x00\x07\x99\x00\x35\x05\x02\x20\x00\x03\x00\x00"), 40))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*3000 {
			return
		}
		m := newMemPages(1024)
		tr := New(m, 0, 0)
		model := map[string]string{}
		prefix := ""
		key := func(b byte) string { return fmt.Sprintf("%s%03d", prefix, b) }
		for i := 0; i+3 <= len(ops); i += 3 {
			op, k, n := ops[i], ops[i+1], int(ops[i+2])
			switch op % 8 {
			case 0, 1, 2: // put; sizes reach past the out-of-line line
				v := bytes.Repeat([]byte{k}, n*3)
				if err := tr.Put([]byte(key(k)), v, 0, nil); err != nil {
					t.Fatal(err)
				}
				model[key(k)] = string(v)
			case 3, 4:
				if _, err := tr.Delete([]byte(key(k)), nil); err != nil {
					t.Fatal(err)
				}
				delete(model, key(k))
			case 5: // delete keys k to k+n
				for j := int(k); j <= min(255, int(k)+n); j++ {
					if _, err := tr.Delete([]byte(key(byte(j))), nil); err != nil {
						t.Fatal(err)
					}
					delete(model, key(byte(j)))
				}
			case 6:
				commitTree(t, tr, m)
				checkTree(t, tr, model)
			case 7: // fills, and long keys for what follows
				tr.Fill, tr.AppendFill = float64(k)/255, float64(n)/255
				if len(model) == 0 {
					prefix = strings.Repeat("p", int(k))
				}
			}
		}
		commitTree(t, tr, m)
		checkTree(t, tr, model)
	})
}
