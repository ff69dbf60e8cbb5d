package btree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
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
