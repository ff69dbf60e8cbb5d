package tx

import (
	"sync/atomic"
	"time"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
)

// Stats describe the database (see DB.Stats).
type Stats struct {
	// The free list of the published state, as Info's FreePages and
	// PendingPages: in WAL mode a commit waiting for its log sync is not
	// in them (nor in TxStats). A checkpoint changes them, though it is
	// not counted as a commit.
	FreePageN    int // pages free for reuse
	PendingPageN int // pages freed but still visible to a reader
	FreeAlloc    int // bytes in free and pending pages
	// FreelistInuse is the bytes the free-extent set takes on disk (in
	// WAL mode: will take, once a checkpoint persists it). NB: it is the
	// newest commit's set, one waiting for its log sync included: the
	// published state's set is not kept.
	FreelistInuse int
	TxN           int // read transactions ended
	OpenTxN       int // read transactions open
	// TxStats sums the write transactions' stats over commits.
	TxStats TxStats

	// MetaFallback, if not empty, is Info.MetaFallback, for people: why
	// Open used the older meta page (the newer one was torn, zeroed or
	// pointed at a bad root), rebuilt the free list, or kept pages the
	// free list named in use. Its words may change: Info's OlderMeta,
	// FreelistRebuilt and FreeListedInUse say which, for programs.
	MetaFallback string
	// SyncFailed, if not empty, is the sync error that stopped writes.
	SyncFailed string
}

// TxStats count what write transactions did (bbolt's fields; the ones
// folio has no counterpart for stay zero). DB.Stats sums them over commits.
type TxStats struct {
	PageCount     int64         // pages allocated
	PageAlloc     int64         // bytes allocated
	CursorCount   int64         // always 0
	NodeCount     int64         // always 0
	NodeDeref     int64         // always 0
	Rebalance     int64         // always 0
	RebalanceTime time.Duration // always 0
	Split         int64         // always 0
	Spill         int64         // always 0
	SpillTime     time.Duration // always 0
	Write         int64         // page runs written
	WriteTime     time.Duration // time spent committing
	Commits       int64         // commits (folio's addition)
}

// Getters and adders, as bbolt has them: each reads or adds to the
// field of its name atomically, so that a program may count into one
// TxStats from several goroutines and read it meanwhile. NB: as with
// bbolt's, on 32-bit platforms the TxStats must be 8-aligned (a
// variable, or an allocated struct, is; in Stats it sits at offset 24).

// GetPageCount returns PageCount.
func (s *TxStats) GetPageCount() int64 { return atomic.LoadInt64(&s.PageCount) }

// IncPageCount adds delta to PageCount and returns the new value.
func (s *TxStats) IncPageCount(delta int64) int64 { return atomic.AddInt64(&s.PageCount, delta) }

// GetPageAlloc returns PageAlloc.
func (s *TxStats) GetPageAlloc() int64 { return atomic.LoadInt64(&s.PageAlloc) }

// IncPageAlloc adds delta to PageAlloc and returns the new value.
func (s *TxStats) IncPageAlloc(delta int64) int64 { return atomic.AddInt64(&s.PageAlloc, delta) }

// GetCursorCount returns CursorCount (always 0 in folio's own counts).
func (s *TxStats) GetCursorCount() int64 { return atomic.LoadInt64(&s.CursorCount) }

// IncCursorCount adds delta to CursorCount and returns the new value.
func (s *TxStats) IncCursorCount(delta int64) int64 { return atomic.AddInt64(&s.CursorCount, delta) }

// GetNodeCount returns NodeCount (always 0 in folio's own counts).
func (s *TxStats) GetNodeCount() int64 { return atomic.LoadInt64(&s.NodeCount) }

// IncNodeCount adds delta to NodeCount and returns the new value.
func (s *TxStats) IncNodeCount(delta int64) int64 { return atomic.AddInt64(&s.NodeCount, delta) }

// GetNodeDeref returns NodeDeref (always 0 in folio's own counts).
func (s *TxStats) GetNodeDeref() int64 { return atomic.LoadInt64(&s.NodeDeref) }

// IncNodeDeref adds delta to NodeDeref and returns the new value.
func (s *TxStats) IncNodeDeref(delta int64) int64 { return atomic.AddInt64(&s.NodeDeref, delta) }

// GetRebalance returns Rebalance (always 0 in folio's own counts).
func (s *TxStats) GetRebalance() int64 { return atomic.LoadInt64(&s.Rebalance) }

// IncRebalance adds delta to Rebalance and returns the new value.
func (s *TxStats) IncRebalance(delta int64) int64 { return atomic.AddInt64(&s.Rebalance, delta) }

// GetRebalanceTime returns RebalanceTime (always 0 in folio's own counts).
func (s *TxStats) GetRebalanceTime() time.Duration {
	return time.Duration(atomic.LoadInt64((*int64)(&s.RebalanceTime)))
}

// IncRebalanceTime adds delta to RebalanceTime and returns the new value.
func (s *TxStats) IncRebalanceTime(delta time.Duration) time.Duration {
	return time.Duration(atomic.AddInt64((*int64)(&s.RebalanceTime), int64(delta)))
}

// GetSplit returns Split (always 0 in folio's own counts).
func (s *TxStats) GetSplit() int64 { return atomic.LoadInt64(&s.Split) }

// IncSplit adds delta to Split and returns the new value.
func (s *TxStats) IncSplit(delta int64) int64 { return atomic.AddInt64(&s.Split, delta) }

// GetSpill returns Spill (always 0 in folio's own counts).
func (s *TxStats) GetSpill() int64 { return atomic.LoadInt64(&s.Spill) }

// IncSpill adds delta to Spill and returns the new value.
func (s *TxStats) IncSpill(delta int64) int64 { return atomic.AddInt64(&s.Spill, delta) }

// GetSpillTime returns SpillTime (always 0 in folio's own counts).
func (s *TxStats) GetSpillTime() time.Duration {
	return time.Duration(atomic.LoadInt64((*int64)(&s.SpillTime)))
}

// IncSpillTime adds delta to SpillTime and returns the new value.
func (s *TxStats) IncSpillTime(delta time.Duration) time.Duration {
	return time.Duration(atomic.AddInt64((*int64)(&s.SpillTime), int64(delta)))
}

// GetWrite returns Write.
func (s *TxStats) GetWrite() int64 { return atomic.LoadInt64(&s.Write) }

// IncWrite adds delta to Write and returns the new value.
func (s *TxStats) IncWrite(delta int64) int64 { return atomic.AddInt64(&s.Write, delta) }

// GetWriteTime returns WriteTime.
func (s *TxStats) GetWriteTime() time.Duration {
	return time.Duration(atomic.LoadInt64((*int64)(&s.WriteTime)))
}

// IncWriteTime adds delta to WriteTime and returns the new value.
func (s *TxStats) IncWriteTime(delta time.Duration) time.Duration {
	return time.Duration(atomic.AddInt64((*int64)(&s.WriteTime), int64(delta)))
}

// Sub returns the difference s - other, as bbolt's TxStats.Sub: every
// counter, those that stay zero included.
func (s *TxStats) Sub(other *TxStats) TxStats {
	return TxStats{
		PageCount:     s.PageCount - other.PageCount,
		PageAlloc:     s.PageAlloc - other.PageAlloc,
		CursorCount:   s.CursorCount - other.CursorCount,
		NodeCount:     s.NodeCount - other.NodeCount,
		NodeDeref:     s.NodeDeref - other.NodeDeref,
		Rebalance:     s.Rebalance - other.Rebalance,
		RebalanceTime: s.RebalanceTime - other.RebalanceTime,
		Split:         s.Split - other.Split,
		Spill:         s.Spill - other.Spill,
		SpillTime:     s.SpillTime - other.SpillTime,
		Write:         s.Write - other.Write,
		WriteTime:     s.WriteTime - other.WriteTime,
		Commits:       s.Commits - other.Commits,
	}
}

// Sub returns the activity between two calls of DB.Stats, as bbolt's
// Stats.Sub: the counters (TxN, TxStats) as s - other; the fields that
// describe a state (the free list, OpenTxN, MetaFallback, SyncFailed)
// as s has them (bbolt's leaves OpenTxN 0). A nil other gives s.
func (s *Stats) Sub(other *Stats) Stats {
	if other == nil {
		return *s
	}
	d := *s
	d.TxN -= other.TxN
	d.TxStats = s.TxStats.Sub(&other.TxStats)
	return d
}

type statCounters struct {
	// Read transactions count as they end, in the stripe they pinned
	// their snapshot with: a counter all readers shared would bounce one
	// cache line between cores on every View. Those open are the
	// snapshots' own reader counts (openReadersLocked).
	ended      [stripes]stripe
	pages      atomic.Int64
	writes     atomic.Int64
	commits    atomic.Int64
	writeNanos atomic.Int64
}

func (s *statCounters) readEnded(stripe int) { s.ended[stripe].n.Add(1) }

// readsEnded returns the read transactions ended.
func (s *statCounters) readsEnded() (n int64) {
	for i := range s.ended {
		n += s.ended[i].n.Load()
	}
	return n
}

func (s *statCounters) commit(writes, pages int, d time.Duration) {
	s.pages.Add(int64(pages))
	s.writes.Add(int64(writes))
	s.commits.Add(1)
	s.writeNanos.Add(int64(d))
}

// Stats returns the database's statistics: counters since Open, and the
// free list of the published state (the one Info describes).
func (db *DB) Stats() Stats {
	if db == nil {
		return Stats{}
	}
	// NB: the page counter is loaded once: loaded for each field, a
	// commit in between made PageAlloc disagree with PageCount.
	pages := db.stats.pages.Load()
	st := Stats{
		TxN: int(db.stats.readsEnded()),
		TxStats: TxStats{
			PageCount: pages,
			PageAlloc: pages * int64(db.pageSize),
			Write:     db.stats.writes.Load(),
			WriteTime: time.Duration(db.stats.writeNanos.Load()),
			Commits:   db.stats.commits.Load(),
		},
		MetaFallback: db.fallback,
	}
	db.mu.Lock()
	st.OpenTxN = int(db.openReadersLocked())
	if db.freelist != nil {
		st.FreePageN, st.PendingPageN = db.freeCountsPublishedLocked()
		st.FreeAlloc = (st.FreePageN + st.PendingPageN) * db.pageSize
		st.FreelistInuse = page.FreelistSize(db.freelist.Extents())
	}
	if db.failed != nil {
		st.SyncFailed = db.failed.Error()
	}
	db.mu.Unlock()
	return st
}

// Stats returns what this transaction did so far.
func (tx *Tx) Stats() TxStats { return tx.stats }

// BucketStats describe a bucket's committed pages and keys, nested
// buckets included (bbolt's fields). An inline bucket (stored in its
// parent's leaf) counts in BucketN, InlineBucketN and KeyN, and its
// leaf's bytes in InlineBucketInuse, not in the page counts; an empty
// bucket, stored as a header alone, counts in InlineBucketN as bbolt's
// does.
type BucketStats struct {
	BranchPageN       int // branch pages
	BranchOverflowN   int // extra pages of overflowing branch runs
	LeafPageN         int // leaf pages
	LeafOverflowN     int // extra pages of overflowing leaf runs
	LargePageN        int // pages holding large values
	KeyN              int // keys, nested bucket names included
	Depth             int // levels of the deepest tree (bbolt's adds nested buckets' depths)
	BranchAlloc       int // bytes allocated to branch pages
	BranchInuse       int // bytes used in them
	LeafAlloc         int // bytes allocated to leaf pages
	LeafInuse         int // bytes used in them
	BucketN           int // buckets, this one included
	InlineBucketN     int // buckets stored in their parent's leaf (empty ones too)
	InlineBucketInuse int // bytes their leaves use
}

// Add adds o's counts to s; Depth becomes the larger of the two, as in
// bbolt's.
func (s *BucketStats) Add(o BucketStats) {
	s.BranchPageN += o.BranchPageN
	s.BranchOverflowN += o.BranchOverflowN
	s.LeafPageN += o.LeafPageN
	s.LeafOverflowN += o.LeafOverflowN
	s.LargePageN += o.LargePageN
	s.KeyN += o.KeyN
	s.Depth = max(s.Depth, o.Depth)
	s.BranchAlloc += o.BranchAlloc
	s.BranchInuse += o.BranchInuse
	s.LeafAlloc += o.LeafAlloc
	s.LeafInuse += o.LeafInuse
	s.BucketN += o.BucketN
	s.InlineBucketN += o.InlineBucketN
	s.InlineBucketInuse += o.InlineBucketInuse
}

// Stats returns statistics on the bucket's committed state: a write
// transaction's own changes are not counted until it commits. The nil
// *Bucket of a missing name, a bucket deleted in this transaction (or
// under a deleted one) and a bucket whose transaction ended report zero
// stats, BucketN too: an empty bucket counts itself (bbolt's also a
// Depth of 1 and an inline bucket, folio's no pages), but these name no
// bucket, and Stats
// summed over names should count only those that exist. (bbolt panics
// on nil.)
func (b *Bucket) Stats() BucketStats {
	var s BucketStats
	// NB: a deleted bucket's orig still names its committed tree, whose
	// pages the deletion freed: the walk reported it as committed.
	if b == nil || b.tx.db == nil || b.deleted {
		return s
	}
	top := treeRef{h: b.orig, leaf: b.origLeaf, from: b.origFrom}
	if b.parent == nil {
		top = treeRef{h: page.BucketHeader{Root: b.tx.snap.meta.Root, RootSum: b.tx.snap.meta.RootSum}}
	}
	ps := b.tx.r.pageSize
	walkTrees(&b.tx.r, top, false, btree.Walker{
		Page: func(id page.ID, n int, kind page.Flags, depth int) {
			if kind != page.FlagLarge {
				s.Depth = max(s.Depth, depth+1)
			}
			switch kind {
			case page.FlagBranch:
				s.BranchPageN++
				s.BranchOverflowN += n - 1
				s.BranchAlloc += n * ps
				s.BranchInuse += runInuse(&b.tx.r, id, n, page.BranchElemSize)
			case page.FlagLeaf:
				s.LeafPageN++
				s.LeafOverflowN += n - 1
				s.LeafAlloc += n * ps
				s.LeafInuse += runInuse(&b.tx.r, id, n, page.LeafElemSize)
			case page.FlagLarge:
				s.LargePageN += n
			}
		},
		Elem:    func(key, stored []byte, flags uint32) { s.KeyN++ },
		Problem: func(err error) { b.tx.fail(err) },
	}, func(ref treeRef) {
		s.BucketN++
		top := b.parent == nil && s.BucketN == 1 // the directory: the meta's
		switch {
		case ref.h.Inline:
			// As bbolt counts one: a level, and the leaf's bytes.
			s.InlineBucketN++
			s.InlineBucketInuse += inuse(ref.leaf, 0, page.LeafElemSize)
			s.Depth = max(s.Depth, 1)
		case ref.h.Root == 0 && !top:
			// No pages and no leaf: bbolt's empty bucket is inline too
			// (a leaf of no elements).
			s.InlineBucketN++
		}
	})
	return s
}

// runInuse is the bytes a tree run uses: header, key hints, elements,
// keys, values.
func runInuse(r *reader, id page.ID, pages, elem int) int {
	off := int(id) * r.pageSize
	return inuse(r.data[off:off+pages*r.pageSize], id, elem)
}

// inuse is runInuse for the node p (a run, or an inline leaf) from page id.
func inuse(p []byte, id page.ID, elem int) int {
	// NB: the walk calls Page before it checks the count (and reports
	// it): a count past the page must not index past it here.
	n, err := page.CheckElems(p, id, elem)
	if err != nil {
		return page.HeaderSize
	}
	// NB: the hints too (written before the key hints came, it left
	// their 8 bytes an element out, so an inline leaf counted less than
	// its length).
	used := page.HeaderSize + n*(page.HintSize+elem)
	for i := 0; i < n; i++ {
		if elem == page.LeafElemSize {
			k, _ := page.LeafKey(p, i)
			_, v, _ := page.LeafValue(p, i)
			used += len(k) + len(v)
		} else {
			k, _ := page.BranchKey(p, i)
			used += len(k)
		}
	}
	return used
}
