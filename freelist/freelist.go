// Package freelist holds the free space of a folio database file as a set of
// page extents: free extents, ready to allocate, and pending extents, freed
// by a write transaction but possibly still visible to a reader's snapshot
// (DESIGN.md invariant 1). The tx package owns one List for the committed
// state and hands each write transaction a Clone of it, so a failed commit
// drops its changes by dropping the clone (DESIGN.md invariant 5).
//
// Extents live in google/btree trees rather than in a sorted slice or a
// bitmap: allocation, freeing and release each stay O(log n) however
// fragmented the file is, and BTreeG.Clone is lazy copy-on-write, so
// cloning the List per write transaction costs O(1) and the clone copies
// only the tree nodes it touches. (Those trees keep a pool of their own
// nodes, which google/btree calls a FreeListG; it has nothing to do with
// free pages.)
//
// The List maintains these invariants; Verify checks every one of them:
//
//  1. Every extent, free or pending, is non-empty, starts at or after page
//     2 (pages 0 and 1 are the meta slots) and does not wrap around.
//  2. Free extents do not overlap and are never adjacent: an extent that
//     becomes free is merged with its free neighbours at once. So each free
//     extent is a maximal run of free pages, and best fit sees true run
//     lengths.
//  3. free (by start) and sizes (by length, then start) hold exactly the
//     same extents.
//  4. Pending extents overlap neither one another nor a free extent. Two
//     adjacent pending extents freed by the same transaction are merged.
//  5. pending (by start) and byTx (by txid, then start) hold exactly the
//     same extents.
//  6. freePages and pendingPages are the page totals of the free and
//     pending extents.
//
// A List is not safe for concurrent use. Readers never touch it: they read
// pages from their snapshot, and only the single writer allocates and frees.
package freelist

import (
	"fmt"
	"slices"

	"github.com/google/btree"

	"github.com/foliodb/folio/page"
)

// metaPages is the number of meta slots at the start of the file (pages 0
// and 1, see page.EncodeMeta); they are never free, and page.DecodeFreelist
// rejects an extent that starts before them.
const metaPages = 2

// degree is the google/btree branching factor. 8 to 64 measured within
// noise of each other (BenchmarkAllocateFreeRelease, BenchmarkCloneAllocate);
// 16 keeps a node (up to 31 items of 16 or 24 bytes) under 1 KiB, which is
// what a clone copies per tree level on its first write there. A variable
// only so that tests can make trees deep with few extents.
var degree = 16

// pendingExt is an extent freed by transaction tx, and written by
// transaction written or later (0: unknown, as old as any reader).
type pendingExt struct {
	page.Extent
	tx      page.TxID
	written page.TxID
}

func end(e page.Extent) page.ID { return e.Start + page.ID(e.Len) }

func lessStart(a, b page.Extent) bool { return a.Start < b.Start }

func lessSize(a, b page.Extent) bool {
	return a.Len < b.Len || (a.Len == b.Len && a.Start < b.Start)
}

func lessPendingStart(a, b pendingExt) bool { return a.Start < b.Start }

func lessPendingTx(a, b pendingExt) bool {
	return a.tx < b.tx || (a.tx == b.tx && a.Start < b.Start)
}

// List is the free-space state: free extents ready to allocate, and pending
// extents freed by a transaction that some reader may still see.
//
// Each set is kept in two trees ordered differently (invariants 3 and 5)
// because each has two questions asked of it in O(log n): free space is
// looked up by position (merging, overlap checks, the tail) and by length
// (best fit); pending space by position (overlap checks, merging) and by
// txid (Release takes the oldest first). A single tree with a scan for the
// other order was rejected: Allocate would be O(n) in a fragmented file, and
// Release O(pending) on every commit while a long reader holds pages back.
type List struct {
	free  *btree.BTreeG[page.Extent] // by start
	sizes *btree.BTreeG[page.Extent] // by (len, start): best fit

	pending *btree.BTreeG[pendingExt] // by start
	byTx    *btree.BTreeG[pendingExt] // by (tx, start): release order

	freePages    uint64
	pendingPages uint64

	// What ReleaseUnseen last scanned: the readers it was given and the
	// published txid then. An extent it kept stays pending at least until
	// one of those readers ends (a later reader sees no extent freed
	// before it).
	unseenReaders []page.TxID
	unseenTo      page.TxID

	// delta, if not nil, records how free ∪ pending changed since the
	// commit's base (TrackDelta).
	delta *delta
}

// New returns an empty List.
func New() *List {
	return &List{
		free:    btree.NewG(degree, lessStart),
		sizes:   btree.NewG(degree, lessSize),
		pending: btree.NewG(degree, lessPendingStart),
		byTx:    btree.NewG(degree, lessPendingTx),
	}
}

// Load replaces the state: all given extents become free, and nothing is
// pending. It is used on open, with the persisted freelist: after a reopen
// no reader remains, so what was pending when it was written is free now.
//
// REQUIRES: exts satisfy invariant 1 and do not overlap, as
// page.DecodeFreelist guarantees; anything else is a folio bug and panics.
// Adjacent extents are merged.
func (l *List) Load(exts []page.Extent) {
	*l = *New()
	for i, e := range exts {
		if why := l.conflict(e); why != "" {
			panic(fmt.Sprintf("folio/freelist: Load of extent %d, [%d, +%d): %s", i, e.Start, e.Len, why))
		}
		l.addFree(e)
	}
	l.checkInvariants()
}

// Clone returns an independent copy in O(1): the trees are cloned lazily
// (google/btree copy-on-write), and each side copies a node only when it
// first writes to it. Mutating the clone never affects l, nor the reverse.
//
// NB: BTreeG.Clone gives the original tree a new copy-on-write context, so
// Clone writes to l; it must not run concurrently with any other use of l.
// Once it returns, l and the clone may be used from different goroutines
// (the trees share only google/btree's node pool, which has its own lock),
// so a reader may walk the committed List while the writer changes its
// clone.
func (l *List) Clone() *List {
	c := &List{
		free:         l.free.Clone(),
		sizes:        l.sizes.Clone(),
		pending:      l.pending.Clone(),
		byTx:         l.byTx.Clone(),
		freePages:    l.freePages,
		pendingPages: l.pendingPages,
		// NB: never written in place (ReleaseUnseen replaces it), so the
		// two Lists may share it.
		unseenReaders: l.unseenReaders,
		unseenTo:      l.unseenTo,
	}
	if l.delta != nil {
		c.delta = l.delta.clone()
	}
	return c
}

// Allocate returns the first page of a contiguous run of n free pages, or
// ok=false if no free extent is that long (the caller then grows the file).
//
// The policy is best fit: the shortest free extent with at least n pages,
// the lowest-starting one among equals, and the run is taken from its
// start. Best fit keeps long extents whole for the large values and
// multi-page nodes that need them, and taking from the start keeps what
// remains where it was, so the remainder needs no merging (its neighbours
// did not change) and a free tail stays at the tail for TrimTail. First fit
// (lowest start) was rejected: a one-page allocation would split whatever
// long extent comes first, even with a one-page hole further on.
//
// Allocate never increases ExtentCount.
//
// REQUIRES: n > 0.
func (l *List) Allocate(n int) (id page.ID, ok bool) {
	if n <= 0 {
		panic(fmt.Sprintf("folio/freelist: Allocate(%d): run length must be positive", n))
	}
	// (n, 0) sorts before every extent of length n, so the first extent at
	// or after it is the best fit.
	e, ok := ceil(l.sizes, page.Extent{Len: uint64(n)})
	if !ok {
		return 0, false
	}
	l.sizes.Delete(e)
	l.free.Delete(e)
	if rest := (page.Extent{Start: e.Start + page.ID(n), Len: e.Len - uint64(n)}); rest.Len > 0 {
		// INVARIANT 2: rest has the same neighbours e had, none adjacent.
		l.free.ReplaceOrInsert(rest)
		l.sizes.ReplaceOrInsert(rest)
	}
	l.freePages -= uint64(n)
	if l.delta != nil {
		l.delta.leave(page.Extent{Start: e.Start, Len: uint64(n)})
	}
	l.checkInvariants()
	return e.Start, true
}

// Free records the n pages [id, id+n) as pending, freed by transaction tx;
// Release makes them free once no reader can see them. An adjacent pending
// extent of the same transaction is merged with it (invariant 4), so freeing
// a large value or a node's overflow pages one page at a time costs one
// extent, not n.
//
// Freeing a page that is already free or pending, a meta page, or an empty
// run is a folio bug, never a consequence of bytes read from disk, so Free
// panics. The overlap check is always on: it costs O(log n), and a double
// free left undetected would hand the same page to two owners.
//
// REQUIRES: n > 0; no page of [id, id+n) is free or pending; id >= 2.
func (l *List) Free(tx page.TxID, id page.ID, n int) { l.FreeWritten(tx, 0, id, n) }

// FreeWritten is Free for pages that transaction written wrote (their
// headers say so), so that ReleaseUnseen can release them while older
// readers remain; 0 means unknown. A merged extent keeps the oldest
// writer of its parts (unknown if any is), which only keeps it longer.
func (l *List) FreeWritten(tx, written page.TxID, id page.ID, n int) {
	e := page.Extent{Start: id, Len: uint64(max(n, 0))}
	if why := l.conflict(e); why != "" {
		panic(fmt.Sprintf("folio/freelist: Free(tx %d) of %d pages at %d: %s", tx, n, id, why))
	}

	p := pendingExt{Extent: e, tx: tx, written: written}
	if prev, ok := floor(l.pending, pendingExt{Extent: page.Extent{Start: e.Start - 1}}); ok &&
		prev.tx == tx && end(prev.Extent) == e.Start {
		l.pending.Delete(prev)
		l.byTx.Delete(prev)
		p.Start, p.Len = prev.Start, prev.Len+p.Len
		p.written = min(p.written, prev.written)
	}
	if next, ok := l.pending.Get(pendingExt{Extent: page.Extent{Start: end(e)}}); ok && next.tx == tx {
		l.pending.Delete(next)
		l.byTx.Delete(next)
		p.Len += next.Len
		p.written = min(p.written, next.written)
	}
	l.pending.ReplaceOrInsert(p)
	l.byTx.ReplaceOrInsert(p)
	l.pendingPages += e.Len
	if l.delta != nil {
		l.delta.enter(e)
	}
	l.checkInvariants()
}

// Release makes free every pending extent freed by a transaction <= upTo,
// merging each with its free neighbours. It costs O(k log n) for k released
// extents, whatever else is pending.
//
// REQUIRES: no open reader, and no meta page recovery could fall back to,
// can still reach a page freed by a transaction <= upTo (DESIGN.md
// invariant 1). The tx package derives upTo from its reader table.
func (l *List) Release(upTo page.TxID) {
	for {
		p, ok := l.byTx.Min()
		if !ok || p.tx > upTo {
			break
		}
		l.byTx.DeleteMin()
		l.pending.Delete(p)
		l.pendingPages -= p.Len
		// INVARIANT 4: p overlaps no free extent, so addFree may merge.
		l.addFree(p.Extent)
	}
	l.checkInvariants()
}

// ReleaseUnseen makes free the pending extents that Release(readers[0])
// keeps but no reader can see: an extent written by W and freed by F
// (FreeWritten) is in the snapshots S with W <= S < F only, so it goes
// once the newest reader older than F is older than W too. Without this
// a reader held across many commits kept every page they freed, not only
// its snapshot's, and the file grew with the writes it outlived
// (TestSpaceChurnLongReader: 300 commits of 10 puts under one reader
// grew a 1,300-page file by 8,900 pages, now by 1,300; bbolt's
// releaseRange does the same).
//
// Only extents freed by cur or before are released: a reader may yet
// begin on a later snapshot (in WAL mode, a logged commit awaiting its
// sync is published after it). Only extents that can have become free
// are scanned: those freed after the previous call's cur, and those
// freed after a reader of the previous call that has ended (a reader
// that began since holds cur or later, and sees none of the others).
// So a long reader costs each commit the extents freed since, not all
// it holds back.
//
// REQUIRES: readers are the snapshots open readers hold that are older
// than cur, the published one, ascending, in a slice the List may keep
// and the caller no longer changes; as for Release, no meta that
// recovery could fall back to reaches a page released (DESIGN.md
// invariant 1).
func (l *List) ReleaseUnseen(readers []page.TxID, cur page.TxID) {
	if len(readers) == 0 {
		// Release(cur) took every extent freed by cur or before.
		l.unseenReaders, l.unseenTo = nil, cur
		return
	}
	from := l.unseenTo
	for _, r := range l.unseenReaders {
		if _, found := slices.BinarySearch(readers, r); !found {
			from = min(from, r)
		}
	}
	from = max(from, readers[0]) // Release(readers[0]) took the rest
	var done []pendingExt
	l.byTx.AscendGreaterOrEqual(pendingExt{tx: from + 1}, func(p pendingExt) bool {
		if p.tx > cur {
			return false
		}
		// The newest reader older than p.tx is readers[i-1].
		i, _ := slices.BinarySearch(readers, p.tx)
		if p.written > readers[i-1] {
			done = append(done, p)
		}
		return true
	})
	for _, p := range done {
		l.byTx.Delete(p)
		l.pending.Delete(p)
		l.pendingPages -= p.Len
		// INVARIANT 4: p overlaps no free extent, so addFree may merge.
		l.addFree(p.Extent)
	}
	l.unseenReaders, l.unseenTo = readers, cur // NB: kept, not copied
	l.checkInvariants()
}

// PendInto frees each pending extent of l into dst, under the txid that
// freed it and its writer: the runs a WAL checkpoint held, released to
// the free list once its meta is durable. REQUIRES: as for Free.
func (l *List) PendInto(dst *List) {
	l.pending.Ascend(func(p pendingExt) bool {
		dst.FreeWritten(p.tx, p.written, p.Start, int(p.Len))
		// Freed before dst's last ReleaseUnseen, but not in it then.
		dst.unseenTo = min(dst.unseenTo, p.tx-1)
		return true
	})
}

// FreeCount is the number of free pages.
func (l *List) FreeCount() uint64 { return l.freePages }

// PendingCount is the number of pending pages.
func (l *List) PendingCount() uint64 { return l.pendingPages }

// Extents returns free ∪ pending as extents sorted by start, with adjacent
// extents joined: what a commit persists (page.EncodeFreelist). Pending
// pages are written as free because the file is only read back on open,
// when no reader remains. The result satisfies page.DecodeFreelist and is
// the caller's to keep.
func (l *List) Extents() []page.Extent { return l.AppendExtents(nil) }

// AppendExtents is Extents written into dst's array when it is large
// enough (dst's contents are dropped): a writer that keeps one array for
// every commit touches no fresh memory for it, which on a VM that shadows
// page tables costs microseconds per 4 KiB page (a 1,300-extent set took
// ~80 µs a commit in a process whose heap grew, ~10 µs otherwise).
func (l *List) AppendExtents(dst []page.Extent) []page.Extent {
	// Merge the two sorted sets in one buffer, with no second allocation:
	// the pending extents are copied to its tail, and the output grows from
	// its head. NB: a write to out[k] never clobbers a pending extent not
	// yet merged, because k counts outputs, which are at most the extents
	// consumed: of the pending ones, those before index next; of the free
	// ones, at most freeLen. So k <= next-1 whenever a write happens.
	freeLen := l.free.Len()
	out := slices.Grow(dst[:0], l.ExtentCount())[:l.ExtentCount()]
	tail := out[freeLen:freeLen]
	l.pending.Ascend(func(p pendingExt) bool { tail = append(tail, p.Extent); return true })
	next, k := freeLen, 0
	push := func(e page.Extent) {
		if k > 0 && end(out[k-1]) == e.Start {
			out[k-1].Len += e.Len
			return
		}
		out[k] = e
		k++
	}
	l.free.Ascend(func(f page.Extent) bool {
		// INVARIANT 4: no pending extent overlaps f, so starts decide.
		for ; next < len(out) && out[next].Start < f.Start; next++ {
			push(out[next])
		}
		push(f)
		return true
	})
	for ; next < len(out); next++ {
		push(out[next])
	}
	return out[:k]
}

// ExtentCount is an upper bound on len(Extents()) in O(1): the commit sizes
// the freelist pages with it before allocating them, which cannot make the
// bound too small, as Allocate never increases it. (Allocating from a free
// extent just after a pending one can split what Extents would have
// joined, which is why this is a bound and not the exact count.) Free
// increases it by at most one.
func (l *List) ExtentCount() int { return l.free.Len() + l.pending.Len() }

// ForEachFree calls fn for each free extent, in order of start.
// REQUIRES: fn does not modify l.
func (l *List) ForEachFree(fn func(page.Extent)) {
	l.free.Ascend(func(e page.Extent) bool { fn(e); return true })
}

// ForEachPending calls fn for each pending extent and the transaction that
// freed it, in order of start. REQUIRES: fn does not modify l.
func (l *List) ForEachPending(fn func(tx page.TxID, e page.Extent)) {
	l.pending.Ascend(func(p pendingExt) bool { fn(p.tx, p.Extent); return true })
}

// TrimTail lets the file give back a free tail: if a free extent ends
// exactly at high (the first page past the file's used extent), it is
// removed and its start returned as the new high; otherwise high is
// returned. One call suffices: by invariant 2 no other free extent can end
// where the removed one began. A pending tail is kept, since a reader may
// still read it.
func (l *List) TrimTail(high page.ID) page.ID {
	last, ok := l.free.Max()
	if !ok || end(last) != high {
		return high
	}
	l.free.Delete(last)
	l.sizes.Delete(last)
	l.freePages -= last.Len
	if l.delta != nil {
		l.delta.leave(last)
	}
	l.checkInvariants()
	return last.Start
}

// LastFreeEnd is the page after the highest free extent, or 0 if none is
// free: where a run must begin for TrimTail to reach past it.
func (l *List) LastFreeEnd() page.ID {
	if last, ok := l.free.Max(); ok {
		return end(last)
	}
	return 0
}

// addFree inserts e into the free set, merged with the free extents just
// before and after it (invariant 2).
// REQUIRES: e overlaps no free extent.
func (l *List) addFree(e page.Extent) {
	l.freePages += e.Len
	if prev, ok := floor(l.free, page.Extent{Start: e.Start - 1}); ok && end(prev) == e.Start {
		l.free.Delete(prev)
		l.sizes.Delete(prev)
		e = page.Extent{Start: prev.Start, Len: prev.Len + e.Len}
	}
	if next, ok := l.free.Get(page.Extent{Start: end(e)}); ok {
		l.free.Delete(next)
		l.sizes.Delete(next)
		e.Len += next.Len
	}
	l.free.ReplaceOrInsert(e)
	l.sizes.ReplaceOrInsert(e)
}

// conflict says why e cannot become free or pending, or "" if it can: it
// must be a valid extent (invariant 1) sharing no page with a free or
// pending one. The message is built only on failure, so the check costs
// no allocation.
//
// Of the extents starting before end(e), only the last can reach into e:
// extents in one set are disjoint (invariants 2 and 4), so their ends
// increase with their starts. Hence one floor lookup per set, O(log n).
// Conflict says why freeing n pages at id would be refused (Free panics
// on it), or returns "". The tx package asks before freeing a run whose
// id and length came from the file, where a conflict means a damaged file
// rather than a bug in folio.
func (l *List) Conflict(id page.ID, n int) string {
	return l.conflict(page.Extent{Start: id, Len: uint64(max(n, 0))})
}

func (l *List) conflict(e page.Extent) string {
	if e.Len == 0 || e.Start < metaPages || end(e) < e.Start {
		return "not a run of data pages"
	}
	last := end(e) - 1
	if f, ok := floor(l.free, page.Extent{Start: last}); ok && end(f) > e.Start {
		return fmt.Sprintf("pages already free in [%d, +%d)", f.Start, f.Len)
	}
	if p, ok := floor(l.pending, pendingExt{Extent: page.Extent{Start: last}}); ok && end(p.Extent) > e.Start {
		return fmt.Sprintf("pages already pending in [%d, +%d), freed by tx %d", p.Start, p.Len, p.tx)
	}
	return ""
}

// floor returns the greatest item <= key.
func floor[T any](t *btree.BTreeG[T], key T) (item T, ok bool) {
	t.DescendLessOrEqual(key, func(i T) bool { item, ok = i, true; return false })
	return item, ok
}

// ceil returns the least item >= key.
func ceil[T any](t *btree.BTreeG[T], key T) (item T, ok bool) {
	t.AscendGreaterOrEqual(key, func(i T) bool { item, ok = i, true; return false })
	return item, ok
}
