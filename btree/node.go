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
	"fmt"
	"math"
	"sync"

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
	// PageSize is the database's page size in bytes.
	PageSize() int
	// TxID is the txid that pages written now carry in their headers.
	TxID() page.TxID
}

// largePending marks, in memory only, a large value not yet written to its
// own run: the inode holds the value itself. Never stored on disk.
const largePending uint32 = 1 << 31

// errMemoryFlag is the problem of element i of page id, whose flags
// (read from the file) hold largePending: no folio wrote it. Taken as
// read, it made a write size the element as a descriptor while encoding
// its value, past the end of the run it allocated (a panic), and a read
// serve a large value's descriptor as its value.
func errMemoryFlag(id page.ID, i int, flags uint32) error {
	return page.Corruptf(id, fmt.Sprintf("element %d flags", i), "0, bucket or large", fmt.Sprintf("%#x", flags))
}

// inode is one element of a materialised node: its key, and for a leaf the
// stored value (a BucketHeader, a LargeRef, or with largePending the large
// value itself). For a branch, child/sum locate the child page and node,
// when set, is its materialised copy.
//
// Key and value share one slice, kv: key = kv[:klen], value = kv[klen:],
// as a leaf element lays them out on its page. That keeps an inode at 56
// bytes rather than 80 (a transaction materialising a thousand leaves
// writes, clears and scans some 25,000 of them), and lets encode copy an
// untouched element from its old page in one piece. Leaf inodes keep it
// so: read and Put build kv whole, writeLarge rebuilds it.
type inode struct {
	flags uint32
	klen  uint32
	kv    []byte
	child page.ID
	sum   uint32
	// src is the offset in the node's source page (Node.src) of kv, 0 if
	// none. Only a hint: encode copies from there only while kv still
	// aliases those bytes.
	src  int32
	node *Node
}

// key returns the inode's key. It aliases kv.
func (in *inode) key() []byte { return in.kv[:in.klen:in.klen] }

// value returns a leaf inode's stored value. It aliases kv.
func (in *inode) value() []byte { return in.kv[in.klen:] }

// Node is a materialised tree page that a write transaction may change.
// Keys and values of untouched elements alias the mapped page.
type Node struct {
	leaf  bool
	id    page.ID // page run this node was read from; 0 once freed or if new
	pages int     // length of that run in pages
	// src is the committed run the node's inodes were read from (a part
	// of a split node keeps its original's; nil for a new node). Its
	// bytes stay valid for the life of the transaction (Pages.Run).
	src        []byte
	inodes     []inode
	unbalanced bool // an element was removed: rebalance may merge it
	// appendOnly holds while every insert went after the last element (a
	// load in key order). Such a node splits into full pages, LMDB-style:
	// the keys before the end will not be joined by others, so a half
	// empty page would stay half empty.
	appendOnly bool
	// hasPending: some inode holds a large value not yet written.
	hasPending bool
	// even: a split cuts the node into equal parts (shareSplits).
	even bool
	// replaced: splitPath put parts in its place. A cursor's frame may
	// still point at it; its inodes are the tree as it was (resolve).
	replaced bool
}

// read materialises the node at id from its validated run p. The Node
// and its inodes come from the tree's slabs (newNode, newInodes).
func (t *Tree) read(p []byte, id page.ID) (*Node, error) {
	leaf := page.PageFlags(p) == page.FlagLeaf
	elem := page.BranchElemSize
	if leaf {
		elem = page.LeafElemSize
	}
	count, err := page.CheckElems(p, id, elem)
	if err != nil {
		return nil, err
	}
	n := t.newNode()
	*n = Node{id: id, pages: len(p) / t.pages.PageSize(), leaf: leaf, appendOnly: true, src: p}
	// Room for a few inserts: a node is materialised to be changed.
	n.inodes = t.newInodes(count, count+count/8+2)
	if leaf {
		// Where the keys and values start if they follow the elements in
		// order, as encode writes them; checked element by element.
		off := page.HeaderSize + count*(page.HintSize+page.LeafElemSize)
		for i := range n.inodes {
			flags, key, value, ok := page.LeafElem(p, count, i)
			if !ok {
				return nil, page.ElemError(id, i)
			}
			if flags&largePending != 0 {
				return nil, errMemoryFlag(id, i, flags)
			}
			in := &n.inodes[i]
			// NB: LeafElem returns the value right after the key, so a
			// key found at off makes p[off:end] the key and the value.
			if end := off + len(key) + len(value); end <= len(p) && end <= math.MaxInt32 && len(key) > 0 && &p[off] == &key[0] {
				*in = inode{flags: flags, klen: uint32(len(key)), kv: p[off:end:end], src: int32(off)}
				off = end
				continue
			}
			// A page laid out unlike encode's (not folio's): copy.
			*in = inode{flags: flags, klen: uint32(len(key)), kv: t.copyKV(key, value)}
		}
		return n, nil
	}
	off := page.HeaderSize + count*(page.HintSize+page.BranchElemSize)
	for i := range n.inodes {
		key, ok := page.BranchKey(p, i)
		if !ok {
			return nil, page.ElemError(id, i)
		}
		child, sum := page.BranchChild(p, i)
		n.inodes[i] = inode{klen: uint32(len(key)), kv: key, child: child, sum: sum}
		if end := off + len(key); end <= len(p) && end <= math.MaxInt32 && len(key) > 0 && &p[off] == &key[0] {
			n.inodes[i].src = int32(off)
			off = end
		}
	}
	return n, nil
}

// Slab sizes: a transaction touching a thousand leaves makes a few dozen
// allocations for their nodes instead of two thousand.
const (
	nodeSlabLen  = 64
	inodeSlabLen = 2048
)

// Slab holds the not yet used part of the last chunks that materialised
// nodes and their inodes are cut from (newNode, newInodes), and the
// pooled inode chunks it took, to give back (Release). A tree has its
// own, given back when it is spilled; ShareSlab lets the trees of one
// write transaction cut from one, given back when the transaction ends.
//
// NB: shared because a tree's first node took a whole chunk (2048 inodes,
// 112 KiB) and a node slab (64 nodes, 5 KiB), held to the commit: a
// transaction putting a key in each of 100,000 one-leaf buckets took
// 12 GB.
type Slab struct {
	nodes  []Node
	inodes []inode
	chunks []usedChunk
}

func (s *Slab) empty() bool { return s.nodes == nil && s.inodes == nil && s.chunks == nil }

// slab is where t cuts nodes from.
func (t *Tree) slab() *Slab {
	if t.shared != nil {
		return t.shared
	}
	return &t.writes().own
}

// ShareSlab makes t cut its nodes from s (nil: its own slab) until the
// next Reset. The caller gives s back (Release) once no tree cutting
// from it holds a materialised node.
func (t *Tree) ShareSlab(s *Slab) { t.shared = s }

// newNode returns a zero Node from the tree's node slab.
func (t *Tree) newNode() *Node {
	s := t.slab()
	if len(s.nodes) == 0 {
		s.nodes = make([]Node, nodeSlabLen)
	}
	n := &s.nodes[0]
	s.nodes = s.nodes[1:]
	return n
}

// inodeChunk is the unit the inode slab is refilled by. Chunks go back to
// inodeChunks when a Spill leaves the tree without materialised nodes
// (or the transaction sharing a slab ends): a fresh 160 KiB chunk costs
// its zeroing and, as often as not, the page faults of memory the
// runtime had given back to the OS, for every chunk of every write
// transaction. (Rejected: keeping the chunks in the Tree. A Tree lives
// as long as its Bucket, one transaction.)
type inodeChunk [inodeSlabLen]inode

var inodeChunks = sync.Pool{New: func() any { return new(inodeChunk) }}

// usedChunk is a chunk a tree cuts inodes from and how many it cut: only
// those need clearing when it goes back.
type usedChunk struct {
	ch   *inodeChunk
	used int
}

// newInodes returns an inode slice of length n and capacity c, cut from
// the tree's inode slab when small. The elements need not be zero (in
// invariant builds a reused chunk holds poison): read sets every one, and
// an append past the length writes a whole inode.
// INVARIANT: the capacity is exact, so an append past it reallocates
// instead of running into the next node's inodes.
func (t *Tree) newInodes(n, c int) []inode {
	if c > inodeSlabLen/8 {
		return make([]inode, n, c)
	}
	s := t.slab()
	if len(s.inodes) < c {
		if k := len(s.chunks); k > 0 {
			s.chunks[k-1].used = inodeSlabLen - len(s.inodes)
		}
		ch := inodeChunks.Get().(*inodeChunk)
		s.chunks = append(s.chunks, usedChunk{ch, inodeSlabLen})
		s.inodes = ch[:]
	}
	in := s.inodes[:n:c]
	s.inodes = s.inodes[c:]
	return in
}

// poisonKey marks the inodes of a released chunk in invariant builds.
var poisonKey = []byte("folio/btree: inode used after its chunk was released")

// Release gives the slab's inode chunks back to inodeChunks. They are
// cleared, so a pooled chunk keeps no keys or pages alive (and holds no
// pointer into a mapping that may be unmapped); invariant builds fill
// them with poisonKey instead, so a use after release shows.
// REQUIRES: no tree cutting from s will read a materialised node again
// (each was spilled, or the transaction ended).
func (s *Slab) Release() {
	if k := len(s.chunks); k > 0 {
		s.chunks[k-1].used = inodeSlabLen - len(s.inodes)
	}
	for i, c := range s.chunks {
		used := c.ch[:c.used]
		if page.Invariants {
			for j := range used {
				used[j] = inode{klen: uint32(len(poisonKey)), kv: poisonKey}
			}
		} else {
			clear(used)
		}
		inodeChunks.Put(c.ch)
		s.chunks[i] = usedChunk{}
	}
	s.chunks, s.inodes = s.chunks[:0], nil
}

// releaseInodes gives the tree's own inode chunks back (a shared slab's
// go back when its owner releases it) and forgets the last path.
// REQUIRES: the tree holds no materialised node (the end of Spill).
func (t *Tree) releaseInodes() {
	if w := t.w; w != nil {
		w.own.Release()
		// The last path points at nodes that are gone.
		w.pathNode, w.pathLen, w.pathOK = [MaxDepth]*Node{}, 0, false
	}
}

// search returns the index of the first inode with key >= key, and
// whether it is an exact match.
func (n *Node) search(key []byte) (int, bool) {
	lo, hi := 0, len(n.inodes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(n.inodes[m].key(), key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.inodes) && bytes.Equal(n.inodes[lo].key(), key)
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
		return page.HintSize + page.BranchElemSize + int(in.klen)
	}
	if in.flags&largePending != 0 {
		return page.HintSize + page.LeafElemSize + int(in.klen) + page.LargeRefSize
	}
	return page.HintSize + page.LeafElemSize + len(in.kv)
}

// encode writes ins, all or part of n's inodes, into run (sized by size)
// as page id and returns the run's checksum.
//
// Inodes that still alias consecutive, back to back elements of n's source
// page (in a random-order load, all but one or two of a leaf's, and all
// but the changed children of a branch) have their bytes copied in one
// piece and their hints computed from the copy: the old page is then read
// once, in order, instead of key by key.
func (n *Node) encode(run []byte, id page.ID, ins []inode, tx page.TxID, pageSize int) uint32 {
	flags, elem := page.FlagBranch, page.BranchElemSize
	if n.leaf {
		flags, elem = page.FlagLeaf, page.LeafElemSize
	}
	page.PutHeader(run, id, tx, flags, len(ins), uint32(len(run)/pageSize-1))
	off := page.HeaderSize + len(ins)*(page.HintSize+elem)
	for i := 0; i < len(ins); {
		k := i + 1
		if start := n.aliased(&ins[i]); start > 0 {
			end := start + len(n.body(&ins[i]))
			for ; k < len(ins) && n.aliased(&ins[k]) == end; k++ {
				end += len(n.body(&ins[k]))
			}
			copy(run[off:], n.src[start:end])
		} else {
			copy(run[off:], n.body(&ins[i]))
		}
		for ; i < k; i++ {
			in := &ins[i]
			klen, size := int(in.klen), len(n.body(in))
			if n.leaf {
				page.PutLeafElem(run, i, in.flags, off, klen, size-klen)
			} else {
				page.PutBranchElem(run, i, in.child, in.sum, off, klen)
			}
			page.PutHint(run, i, run[off:off+klen])
			off += size
		}
	}
	return page.Seal(run)
}

// body returns the bytes an element of n stores after the elements: the
// key and value of a leaf element, the key of a branch element.
func (n *Node) body(in *inode) []byte {
	if n.leaf {
		return in.kv
	}
	return in.key()
}

// aliased returns the offset in n.src where in's body lies, or 0 if it
// does not lie there (a new or changed element, or one moved here from
// another node).
func (n *Node) aliased(in *inode) int {
	off, b := int(in.src), n.body(in)
	if off == 0 || len(b) == 0 || off+len(b) > len(n.src) || &n.src[off] != &b[0] {
		return 0
	}
	return off
}
