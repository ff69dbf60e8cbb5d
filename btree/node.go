// Package btree is the B+tree over pages. Lookups and cursors read mapped
// page bytes directly; a write materialises only the nodes on the paths it
// touches (copy-on-write) and, at commit, spills them bottom-up into newly
// allocated pages, so a parent learns each child's checksum before it is
// itself written.
//
// The tree knows nothing of files or transactions: it asks a Pages for
// committed runs, new page ids and frees, and hands it finished runs.
package btree

import (
	"bytes"

	"github.com/foliodb/folio/page"
)

// Pages is what a tree needs from its transaction.
type Pages interface {
	// Run returns the committed run at id, its header checked against the
	// expected kind and checksum (page.CheckRun). The bytes stay valid for
	// the life of the transaction.
	Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error)
	// Allocate reserves n contiguous pages for this transaction's writes.
	Allocate(n int) (page.ID, error)
	// Free releases a committed run of n pages that this transaction no
	// longer references (pending until no reader can see it).
	Free(id page.ID, n int)
	// Write hands over a finished, sealed run to be written at commit.
	Write(id page.ID, run []byte)
	// Buffer returns a zeroed buffer for a run of n pages.
	Buffer(n int) []byte
	PageSize() int
	TxID() page.TxID
}

// largePending marks, in memory only, a large value not yet written to its
// own run: the inode holds the value itself. Never stored on disk.
const largePending uint32 = 1 << 31

// inode is one element of a materialised node. For a leaf, value holds the
// stored value (a BucketHeader, a LargeRef, or with largePending the large
// value itself). For a branch, child/sum locate the child page and node,
// when set, is its materialised copy.
type inode struct {
	flags uint32
	key   []byte
	value []byte
	child page.ID
	sum   uint32
	node  *Node
}

// Node is a materialised tree page that a write transaction may change.
// Keys and values of untouched elements alias the mapped page.
type Node struct {
	leaf       bool
	id         page.ID // page run this node was read from; 0 once freed or if new
	pages      int     // length of that run in pages
	inodes     []inode
	unbalanced bool // an element was removed: rebalance may merge it
	// appendOnly holds while every insert went after the last element (a
	// load in key order). Such a node splits into full pages, LMDB-style:
	// the keys before the end will not be joined by others, so a half
	// empty page would stay half empty.
	appendOnly bool
	// hasPending: some inode holds a large value not yet written.
	hasPending bool
}

// read materialises the node at id from its validated run p.
func read(p []byte, id page.ID, pageSize int) (*Node, error) {
	n := &Node{id: id, pages: len(p) / pageSize, leaf: page.PageFlags(p) == page.FlagLeaf, appendOnly: true}
	elem := page.BranchElemSize
	if n.leaf {
		elem = page.LeafElemSize
	}
	count, err := page.CheckElems(p, id, elem)
	if err != nil {
		return nil, err
	}
	// Room for a few inserts: a node is materialised to be changed.
	n.inodes = make([]inode, count, count+count/8+2)
	for i := range n.inodes {
		in := &n.inodes[i]
		var ok bool
		if n.leaf {
			in.key, ok = page.LeafKey(p, i)
			if ok {
				in.flags, in.value, ok = page.LeafValue(p, i)
			}
		} else {
			in.key, ok = page.BranchKey(p, i)
			in.child, in.sum = page.BranchChild(p, i)
		}
		if !ok {
			return nil, page.ElemError(id, i)
		}
	}
	return n, nil
}

// search returns the index of the first inode with key >= key, and
// whether it is an exact match.
func (n *Node) search(key []byte) (int, bool) {
	lo, hi := 0, len(n.inodes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(n.inodes[m].key, key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.inodes) && bytes.Equal(n.inodes[lo].key, key)
}

// size is the encoded size of the node's body and header in bytes.
func (n *Node) size() int {
	s := page.HeaderSize
	for i := range n.inodes {
		s += n.elemSize(&n.inodes[i])
	}
	return s
}

func (n *Node) elemSize(in *inode) int {
	if !n.leaf {
		return page.HintSize + page.BranchElemSize + len(in.key)
	}
	if in.flags&largePending != 0 {
		return page.HintSize + page.LeafElemSize + len(in.key) + page.LargeRefSize
	}
	return page.HintSize + page.LeafElemSize + len(in.key) + len(in.value)
}

// encode writes the node into run (sized by size()) as page id.
func (n *Node) encode(run []byte, id page.ID, tx page.TxID, pageSize int) uint32 {
	flags, elem := page.FlagBranch, page.BranchElemSize
	if n.leaf {
		flags, elem = page.FlagLeaf, page.LeafElemSize
	}
	page.PutHeader(run, id, tx, flags, len(n.inodes), uint32(len(run)/pageSize-1))
	off := page.HeaderSize + len(n.inodes)*(page.HintSize+elem)
	for i := range n.inodes {
		in := &n.inodes[i]
		page.PutHint(run, i, in.key)
		if n.leaf {
			page.PutLeafElem(run, i, in.flags, off, len(in.key), len(in.value))
			off += copy(run[off:], in.key)
			off += copy(run[off:], in.value)
		} else {
			page.PutBranchElem(run, i, in.child, in.sum, off, len(in.key))
			off += copy(run[off:], in.key)
		}
	}
	return page.Seal(run)
}
