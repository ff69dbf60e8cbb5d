package tx

import (
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/foliodb/folio/page"
)

// snapshot is one committed state that readers can begin on: its meta and
// the mapping that covers its pages. Readers count themselves in striped
// counters so that two cores beginning transactions do not fight over one
// cache line.
//
// Begin protocol (no lock): load db.current, increment a stripe of it,
// load db.current again; if it changed, undo and retry. The writer stores
// a new current before it sums the counters of old snapshots, and Go's
// atomics are sequentially consistent, so either the writer sees the
// reader's increment or the reader sees the new current and retries. A
// snapshot whose counters sum to zero after it stopped being current can
// therefore never gain a reader that reads it.
type snapshot struct {
	meta page.Meta
	view *view
	// stale is set once a newer snapshot maps the file anew: s's view is
	// then one only old snapshots hold, and the reader that ends s's last
	// pin prunes (unpin).
	stale   atomic.Bool
	readers [stripes]stripe
	// buckets holds top-level bucket headers read in this snapshot, so
	// that a read transaction opening one skips the directory search
	// (a one-get View with the pages in cache: 298 to 279 ns). A slot is
	// filled once, by the first reader to claim it, and never changes:
	// the snapshot does not, so neither does what its directory says.
	// The slots live in the snapshot, which the writer allocates, so
	// filling one allocates nothing on the read path.
	buckets [bucketSlots]bucketSlot
	// freePages and pendingPages (held runs included) count the free
	// list as this snapshot's commit left it, for Info while a later
	// logged commit waits for its sync: DB.freelist is then that
	// commit's (head's), which may free pages past this snapshot's high
	// water mark.
	freePages, pendingPages int
}

// bucketSlots is how many top-level buckets a snapshot remembers, and
// bucketSlotName the longest name it remembers one by. Opening any other
// searches the directory, as without the slots.
const (
	bucketSlots    = 4
	bucketSlotName = 48
)

// bucketSlot is one remembered header. state goes 0 (empty) → 1 (claimed,
// being written) → 2 (ready) and never back; name and h are written only
// between the claim and the store of 2, and read only after a load of 2.
type bucketSlot struct {
	state atomic.Uint32
	n     uint8
	name  [bucketSlotName]byte
	h     page.BucketHeader
	// leaf is an inline bucket's leaf, in this snapshot's mapping, read
	// from page from.
	leaf []byte
	from page.ID
}

// cachedBucket returns the header of top-level bucket name if a reader of
// s has remembered it, with an inline bucket's leaf and the page holding
// it.
func (s *snapshot) cachedBucket(name []byte) (page.BucketHeader, []byte, page.ID, bool) {
	for i := range s.buckets {
		b := &s.buckets[i]
		switch b.state.Load() {
		case 0:
			return page.BucketHeader{}, nil, 0, false // slots are claimed in order
		case 2:
			if string(b.name[:b.n]) == string(name) {
				return b.h, b.leaf, b.from, true
			}
		}
	}
	return page.BucketHeader{}, nil, 0, false
}

// cacheBucket remembers h as the header of top-level bucket name, in the
// first free slot, unless a slot holds it already or none is free.
func (s *snapshot) cacheBucket(name []byte, h page.BucketHeader, leaf []byte, from page.ID) {
	if len(name) > bucketSlotName {
		return
	}
	for i := range s.buckets {
		b := &s.buckets[i]
		if b.state.CompareAndSwap(0, 1) {
			b.n = uint8(copy(b.name[:], name))
			b.h, b.leaf, b.from = h, leaf, from
			b.state.Store(2)
			return
		}
		if b.state.Load() == 2 && string(b.name[:b.n]) == string(name) {
			return
		}
	}
}

// stripes is a power of two, so readerStripe can take the top bits of a
// hash.
const (
	stripeBits = 4
	stripes    = 1 << stripeBits
)

// stripe is a counter on a cache line of its own (the snapshots' reader
// counts, and statCounters' ended reads).
type stripe struct {
	n atomic.Int64
	_ [56]byte // one cache line each
}

// view is a mapping shared by the snapshots made while it was the newest.
// refs counts those snapshots; it is touched only under DB.mu.
type view struct {
	v      View
	bytes  []byte
	refs   int
	closed bool
	db     *DB // whose mapping it is, for the reader that ends its last use (unpin)
}

func (s *snapshot) readerCount() int64 {
	var n int64
	for i := range s.readers {
		n += s.readers[i].n.Load()
	}
	return n
}

// openReadersLocked counts the readers pinned to any snapshot: the open
// read transactions (and, for an instant, a reader retrying its pin).
// REQUIRES: db.mu held.
func (db *DB) openReadersLocked() int64 {
	var n int64
	if s := db.current.Load(); s != nil {
		n = s.readerCount()
	}
	for _, s := range db.olds {
		n += s.readerCount()
	}
	return n
}

// pin registers a reader on the current snapshot and returns it with the
// stripe used, or nil if the DB is closed.
func (db *DB) pin() (*snapshot, int) {
	i := readerStripe()
	for {
		s := db.current.Load()
		if s == nil {
			return nil, 0
		}
		s.readers[i].n.Add(1)
		if db.current.Load() == s {
			return s, i
		}
		// NB: unpin, not a bare decrement: the reader that ended last
		// may have left s to this one to prune.
		s.unpin(i)
	}
}

// unpin ends a reader's pin on s. If s's mapping is no longer the
// current snapshot's (the file outgrew it), the snapshots no reader
// holds are dropped at once, and with them the mappings no snapshot
// needs. Before, only the next write transaction or Close pruned them:
// a service that stopped writing after a load kept every mapping the
// file had outgrown (16, 32, 64 MiB, ...) for good, however short the
// reads that had pinned them (TestLifecycleRemapReleasedByReaders).
// Only readers of a replaced mapping take the lock: after a remap, a
// few; the rest load one flag of their own snapshot (stale). Comparing
// the snapshot's view with db.current's instead, four dependent loads,
// cost a one-get View 3-4% (BenchmarkGet, 3 interleaved rounds).
func (s *snapshot) unpin(i int) {
	s.readers[i].n.Add(-1)
	// NB: after the decrement. The writer sets stale before it sums the
	// counters (publishLocked), so either it sees this reader gone or
	// this reader sees stale and prunes.
	if s.stale.Load() {
		db := s.view.db
		db.mu.Lock()
		if db.current.Load() != nil { // a closed DB is Close's to prune
			db.pruneLocked()
		}
		db.mu.Unlock()
	}
}

// readerStripe picks a reader's stripe from where its goroutine's stack
// is, so a goroutine keeps its stripe from one transaction to the next
// (until its stack moves) and a core running it keeps writing a cache
// line it already holds. A random stripe per transaction, as before, sent
// the line to the other core about half the time with two readers.
// A goroutine's stack is 2 KiB or more, so two live goroutines differ
// in the address bits above the shift.
func readerStripe() int {
	var x byte
	h := uint64(uintptr(unsafe.Pointer(&x))>>11) * 0x9e3779b97f4a7c15
	return int(h >> (64 - stripeBits))
}

// publishLocked makes s the snapshot new readers begin on and drops old
// snapshots no reader holds, unmapping views no snapshot needs.
// REQUIRES: db.mu held.
func (db *DB) publishLocked(s *snapshot) {
	s.view.refs++
	if old := db.current.Swap(s); old != nil {
		db.olds = append(db.olds, old)
		if old.view != s.view {
			// A remap: every old snapshot's view is now an old one.
			for _, o := range db.olds {
				o.stale.Store(true)
			}
		}
	}
	db.pruneLocked()
}

// pruneLocked drops old snapshots without readers. REQUIRES: db.mu held.
func (db *DB) pruneLocked() {
	kept := db.olds[:0]
	for _, s := range db.olds {
		if s.readerCount() > 0 {
			kept = append(kept, s)
			continue
		}
		db.releaseViewLocked(s.view)
	}
	clear(db.olds[len(kept):])
	db.olds = kept
}

func (db *DB) releaseViewLocked(v *view) {
	v.refs--
	if v.refs == 0 {
		v.closed = true
		_ = v.v.Close() // an unmap error leaves only address space behind
	}
}

// unmapUnusedLocked unmaps v if no snapshot holds it: the view of a
// logged commit never published (syncLogged, Close).
func unmapUnusedLocked(v *view) {
	if v.refs == 0 && !v.closed {
		v.closed = true
		_ = v.v.Close()
	}
}

// readersLocked prunes the old snapshots no reader holds and returns,
// ascending, those readers still hold, all older than the published one,
// with those of commits whose OnCommit handlers run (db.handled) as if
// read. Pages freed by transactions up to the oldest of them (the
// published txid if none) can be reused (invariant 1); pages freed
// since, only if no reader can see them (freelist.ReleaseUnseen). NB: in
// WAL mode the runs the last checkpoint reaches are not in the free list
// at all until the next checkpoint (walState.held). REQUIRES: db.mu held.
func (db *DB) readersLocked() []page.TxID {
	db.pruneLocked()
	if len(db.olds) == 0 && len(db.handled) == 0 {
		return nil
	}
	ids := make([]page.TxID, 0, len(db.olds)+len(db.handled))
	for _, s := range db.olds {
		ids = append(ids, s.meta.TxID)
	}
	// NB: a handler's snapshot at or past the published one (WAL mode:
	// its commit still waits for its log sync) needs nothing kept yet:
	// only pages freed by the published txid or before are released.
	cur := db.current.Load().meta.TxID
	for _, s := range db.handled {
		if s.meta.TxID < cur {
			ids = append(ids, s.meta.TxID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// handleLocked keeps the pages of s, the snapshot a committing write
// transaction began on, until its OnCommit handlers return (unhandle).
// REQUIRES: db.mu held, and the write lock (the next writer must not
// begin before s counts).
func (db *DB) handleLocked(s *snapshot) { db.handled = append(db.handled, s) }

// unhandleLocked ends what handleLocked began. REQUIRES: db.mu held.
func (db *DB) unhandleLocked(s *snapshot) {
	if i := slices.Index(db.handled, s); i >= 0 {
		db.handled = slices.Delete(db.handled, i, i+1)
	}
}
