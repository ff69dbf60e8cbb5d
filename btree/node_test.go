package btree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestEncodeBulkCopy checks that encoding a node whose elements still
// alias its source page (copied in bulk) gives the same bytes as copying
// element by element, for leaves and branches, across inserts,
// replacements, deletes, splits and merges between commits.
func TestEncodeBulkCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 3))
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	bulk, branches := 0, 0
	for round := 0; round < 30; round++ {
		for i := rng.IntN(300); i > 0; i-- {
			k := []byte(fmt.Sprintf("k%05d", rng.IntN(4000)))
			if rng.IntN(4) == 0 {
				if _, err := tr.Delete(k, nil); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := tr.Put(k, bytes.Repeat([]byte{'v'}, rng.IntN(60)), 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Rebalance(); err != nil {
			t.Fatal(err)
		}
		var check func(n *Node)
		check = func(n *Node) {
			for i := range n.inodes {
				if c := n.inodes[i].node; c != nil {
					check(c)
				}
			}
			if len(n.inodes) == 0 {
				return
			}
			for i := range n.inodes {
				if n.aliased(&n.inodes[i]) > 0 {
					bulk++
					if !n.leaf {
						branches++
					}
				}
			}
			size := n.size()
			got := make([]byte, (size+1023)/1024*1024)
			n.encode(got, 7, n.inodes, 9, 1024)
			slow := *n
			slow.src = nil
			want := make([]byte, len(got))
			slow.encode(want, 7, n.inodes, 9, 1024)
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d: bulk encoding of a node (leaf %v) differs from element by element", round, n.leaf)
			}
		}
		if tr.rootNode != nil {
			check(tr.rootNode)
		}
		if err := tr.Spill(); err != nil {
			t.Fatal(err)
		}
		m.commit()
	}
	if bulk == 0 || branches == 0 {
		t.Fatalf("%d elements copied in bulk, %d of them in branches", bulk, branches)
	}
}

// TestReadForeignLayout reads a leaf whose keys and values lie in the
// reverse order of its elements (valid, but not how encode lays them
// out): read copies them instead of aliasing, and a change to the leaf
// spills to a page with every key.
func TestReadForeignLayout(t *testing.T) {
	const ps = 1024
	m := newMemPages(ps)
	want := map[string]string{}
	var keys, vals []string
	for i := 0; i < 8; i++ {
		k, v := fmt.Sprintf("key%02d", i), fmt.Sprintf("value%d", i*i)
		keys, vals = append(keys, k), append(vals, v)
		want[k] = v
	}
	p := make([]byte, ps)
	page.PutHeader(p, 2, 1, page.FlagLeaf, len(keys), 0)
	end := ps
	for i := range keys {
		end -= len(keys[i]) + len(vals[i])
		copy(p[end:], keys[i])
		copy(p[end+len(keys[i]):], vals[i])
		page.PutHint(p, i, []byte(keys[i]))
		page.PutLeafElem(p, i, 0, end, len(keys[i]), len(vals[i]))
	}
	sum := page.Seal(p)
	m.file = append(make([]byte, 2*ps), p...)
	m.high = 3
	tr := New(m, 2, sum)
	if err := tr.Put([]byte("key03x"), []byte("new"), 0, nil); err != nil {
		t.Fatal(err)
	}
	want["key03x"] = "new"
	for _, in := range tr.rootNode.inodes {
		if in.src != 0 {
			t.Fatalf("inode of key %q aliases the foreign page at %d", in.key(), in.src)
		}
	}
	commitTree(t, tr, m)
	got, _ := walkAll(t, tr)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
