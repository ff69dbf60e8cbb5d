package freelist

import (
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
)

// chunkMax is the most items a chunk of a set holds. Against 128, 64
// measured faster per operation at W2's ~1,000 extents
// (BenchmarkAllocateFreeRelease, BenchmarkCloneAllocate at 1e3), and
// slower for a Clone and first write at 1e5 extents, where the pointer
// slice that write copies is twice as long (see set). A chunk of 64
// extents is 1 to 1.5 KiB, what a write copies after a Clone. A variable
// only so that tests can make many chunks with few items.
var chunkMax = 64

// cowIDs hands out copy-on-write identities: a set may change a chunk in
// place only if the chunk carries the set's identity.
var cowIDs atomic.Uint64

// set is an ordered set of T (by less, no two items equal) kept as a
// sorted sequence of chunks: sorted arrays of 1 to chunkMax items, each
// chunk's items all less than the next chunk's.
//
// Clone is O(1) and lazy, like google/btree's: both sides get new
// identities, so neither writes to a chunk they share; a write copies the
// chunk first (and, the first time, the slice of chunk pointers). Two
// levels instead of a B-tree: a lookup is two binary searches over
// contiguous memory, a neighbour is the next array slot, and an item whose
// key changes without passing a neighbour is overwritten in place; the
// price is the pointer slice, O(n/chunkMax), which an insert that splits a
// chunk shifts and the first write after a Clone copies. NB: at 1e5
// extents (1,600 to 3,200 pointers per set) a Clone and one Allocate cost
// ~20 to 35 µs, against ~10 µs with google/btree (BenchmarkCloneAllocate):
// once per write transaction, less than 2% of that commit's O(n) Extents,
// and made up after a few dozen frees and allocations. A third level
// (segments of chunk pointers, each copied on write) would remove it, at
// the cost of a B-tree's splitting and joining at two levels.
//
// INVARIANT: every chunk is non-empty and holds at most chunkMax items; n
// is the item count; a chunk whose owner is not id, and chunks itself
// unless ownChunks, may be shared with a clone and is never written.
type set[T any] struct {
	less      func(a, b T) bool
	chunks    []*chunk[T]
	n         int
	id        uint64
	ownChunks bool
	// spare is an emptied chunk of s's own, kept for the next new chunk:
	// a set that goes from empty to one item and back (pending extents
	// of one transaction, released at the next) allocates nothing.
	spare *chunk[T]
}

type chunk[T any] struct {
	owner uint64
	items []T // sorted; cap chunkMax
}

// pos is a position in a set: item i of chunk c. The end position (past the
// last item) has c == len(chunks). A pos is valid only until the set
// changes, except as the methods that take one say.
type pos struct{ c, i int }

func newSet[T any](less func(a, b T) bool) *set[T] {
	return &set[T]{less: less, id: cowIDs.Add(1), ownChunks: true}
}

// clone returns a lazy copy of s. NB: like BTreeG.Clone it writes to s.
func (s *set[T]) clone() *set[T] {
	c := *s
	s.id, c.id = cowIDs.Add(1), cowIDs.Add(1)
	s.ownChunks, c.ownChunks = false, false
	s.spare, c.spare = nil, nil
	return &c
}

// Len is the number of items.
func (s *set[T]) Len() int { return s.n }

// search returns the position of the least item >= key, or the end.
func (s *set[T]) search(key T) pos {
	cs := s.chunks
	// The first chunk whose last item is >= key holds the answer.
	c := sort.Search(len(cs), func(c int) bool {
		items := cs[c].items
		return !s.less(items[len(items)-1], key)
	})
	if c == len(cs) {
		return pos{c, 0}
	}
	items := cs[c].items
	lo, hi := 0, len(items)-1 // items[hi] >= key
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.less(items[m], key) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return pos{c, lo}
}

// at returns the item at p, or ok=false at the end.
func (s *set[T]) at(p pos) (item T, ok bool) {
	if p.c >= len(s.chunks) {
		return item, false
	}
	return s.chunks[p.c].items[p.i], true
}

// before returns the position of the item just before p, or ok=false if p
// is the first.
func (s *set[T]) before(p pos) (pos, bool) {
	if p.i > 0 {
		return pos{p.c, p.i - 1}, true
	}
	if p.c == 0 {
		return pos{}, false
	}
	return pos{p.c - 1, len(s.chunks[p.c-1].items) - 1}, true
}

// find returns the position of the item equal to key, if there is one.
func (s *set[T]) find(key T) (pos, bool) {
	p := s.search(key)
	item, ok := s.at(p)
	return p, ok && !s.less(key, item)
}

// Get returns the item equal to key.
func (s *set[T]) Get(key T) (item T, ok bool) {
	p, ok := s.find(key)
	if !ok {
		return item, false
	}
	return s.at(p)
}

// Has says whether an item equal to key is in s.
func (s *set[T]) Has(key T) bool { _, ok := s.find(key); return ok }

// Min returns the least item.
func (s *set[T]) Min() (item T, ok bool) { return s.at(pos{}) }

// Max returns the greatest item.
func (s *set[T]) Max() (item T, ok bool) {
	if len(s.chunks) == 0 {
		return item, false
	}
	items := s.chunks[len(s.chunks)-1].items
	return items[len(items)-1], true
}

// Ascend calls fn for each item in order until fn returns false.
// REQUIRES: fn does not modify s.
func (s *set[T]) Ascend(fn func(T) bool) {
	for _, c := range s.chunks {
		for _, item := range c.items {
			if !fn(item) {
				return
			}
		}
	}
}

// ReplaceOrInsert puts item in s, replacing an equal one.
func (s *set[T]) ReplaceOrInsert(item T) {
	p := s.search(item)
	if old, ok := s.at(p); ok && !s.less(item, old) {
		s.setAt(p, item)
		return
	}
	s.insertAt(p, item)
}

// Delete removes the item equal to key and says whether there was one.
func (s *set[T]) Delete(key T) bool {
	p, ok := s.find(key)
	if ok {
		s.deleteAt(p)
	}
	return ok
}

// newChunk returns an empty chunk of s's own.
func (s *set[T]) newChunk() *chunk[T] {
	if ch := s.spare; ch != nil {
		s.spare = nil
		return ch
	}
	return &chunk[T]{owner: s.id, items: make([]T, 0, chunkMax)}
}

// recycle keeps ch, just removed from s, as the spare if s owns it.
// INVARIANT: a chunk that s owns was made after s's last clone, so no
// clone can hold it.
func (s *set[T]) recycle(ch *chunk[T]) {
	if ch.owner == s.id {
		ch.items = ch.items[:0]
		s.spare = ch
	}
}

// mutableChunks makes the chunk pointer slice s's own.
func (s *set[T]) mutableChunks() {
	if !s.ownChunks {
		s.chunks = slices.Clone(s.chunks)
		s.ownChunks = true
	}
}

// mutable returns chunk c, copied first unless s owns it.
func (s *set[T]) mutable(c int) *chunk[T] {
	ch := s.chunks[c]
	if ch.owner == s.id {
		return ch
	}
	s.mutableChunks()
	cp := &chunk[T]{owner: s.id, items: make([]T, len(ch.items), chunkMax)}
	copy(cp.items, ch.items)
	s.chunks[c] = cp
	return cp
}

// setAt overwrites the item at p.
// REQUIRES: item sorts strictly between the items before and after p.
func (s *set[T]) setAt(p pos, item T) { s.mutable(p.c).items[p.i] = item }

// insertAt inserts item at p, which search(item) returned.
func (s *set[T]) insertAt(p pos, item T) {
	s.n++
	if p.i == 0 && p.c > 0 && (p.c == len(s.chunks) || len(s.chunks[p.c].items) == chunkMax) &&
		len(s.chunks[p.c-1].items) < chunkMax {
		// Between two chunks (or past the last): into the one before if
		// it has room, to keep chunks full without splitting.
		p = pos{p.c - 1, len(s.chunks[p.c-1].items)}
	}
	if p.c == len(s.chunks) {
		// Past the last item, with the last chunk full (or no chunk at
		// all): start a new one rather than split, so that items added in
		// order (Load, the extents of a release) fill chunks completely.
		s.mutableChunks()
		ch := s.newChunk()
		ch.items = append(ch.items, item)
		s.chunks = append(s.chunks, ch)
		return
	}
	ch := s.mutable(p.c)
	if len(ch.items) == chunkMax {
		half := chunkMax / 2
		right := s.newChunk()
		right.items = append(right.items, ch.items[half:]...)
		ch.items = ch.items[:half]
		s.mutableChunks()
		s.chunks = slices.Insert(s.chunks, p.c+1, right)
		if p.i > half {
			ch, p.i = right, p.i-half
		}
	}
	ch.items = slices.Insert(ch.items, p.i, item)
}

// deleteAt removes the item at p.
func (s *set[T]) deleteAt(p pos) {
	s.n--
	ch := s.mutable(p.c)
	ch.items = slices.Delete(ch.items, p.i, p.i+1)
	switch {
	case len(ch.items) == 0:
		s.mutableChunks()
		s.chunks = slices.Delete(s.chunks, p.c, p.c+1)
		s.recycle(ch)
	case len(ch.items) < chunkMax/4:
		s.mergeSmall(p.c)
	}
}

// mergeSmall joins the small chunk c with a neighbour if the two fit in
// three quarters of a chunk, so chunks stay at least about an eighth full
// on average and the pointer slice stays short; three quarters leaves the
// joined chunk room before it splits again.
func (s *set[T]) mergeSmall(c int) {
	l := c - 1
	if l < 0 || c+1 < len(s.chunks) && len(s.chunks[c+1].items) < len(s.chunks[l].items) {
		l = c // join with the right neighbour
	}
	if l+1 >= len(s.chunks) || len(s.chunks[l].items)+len(s.chunks[l+1].items) > chunkMax*3/4 {
		return
	}
	left := s.mutable(l)
	s.mutableChunks()
	left.items = append(left.items, s.chunks[l+1].items...)
	s.recycle(s.chunks[l+1])
	s.chunks = slices.Delete(s.chunks, l+1, l+2)
}

// deleteFront removes the k least items.
func (s *set[T]) deleteFront(k int) {
	if k <= 0 {
		return
	}
	s.n -= k
	drop := 0
	for drop < len(s.chunks) && k >= len(s.chunks[drop].items) {
		k -= len(s.chunks[drop].items)
		drop++
	}
	if drop > 0 {
		s.mutableChunks()
		s.recycle(s.chunks[0])
		s.chunks = slices.Delete(s.chunks, 0, drop)
	}
	if k > 0 {
		ch := s.mutable(0)
		ch.items = slices.Delete(ch.items, 0, k)
		if len(ch.items) < chunkMax/4 {
			s.mergeSmall(0)
		}
	}
}

// verify checks the set's structure: chunk sizes, order within and across
// chunks, and the count.
func (s *set[T]) verify() error {
	n := 0
	var prev T
	for c, ch := range s.chunks {
		if len(ch.items) == 0 || len(ch.items) > chunkMax {
			return fmt.Errorf("chunk %d of %d holds %d items, want 1 to %d", c, len(s.chunks), len(ch.items), chunkMax)
		}
		for i, item := range ch.items {
			if n > 0 && !s.less(prev, item) {
				return fmt.Errorf("item %d (chunk %d, index %d) is not above the one before it", n, c, i)
			}
			prev, n = item, n+1
		}
	}
	if n != s.n {
		return fmt.Errorf("the chunks hold %d items, the count says %d", n, s.n)
	}
	return nil
}
