package tx

import "github.com/foliodb/folio/page"

// Info describes the file's current state, for tools (folio info).
type Info struct {
	// Version is the file's format version on disk: the older of its
	// meta pages' (a folio of that version still opens the file). The
	// first meta written, by a commit or a checkpoint, or in WAL mode
	// the first record logged, makes both page.Version; a read-only open
	// never does.
	Version      uint32
	PageSize     int
	FileSize     int64     // bytes
	TxID         page.TxID // last committed transaction
	MetaSlot     int       // meta page (0 or 1) holding the current state
	HighPage     page.ID   // pages in the file's used extent: [0, HighPage)
	FreePages    int       // free for reuse
	PendingPages int       // freed, but a reader may still see them
	Root         page.ID   // root page of the bucket directory (0: none)
	Freelist     page.ID   // first page of the persisted free list (0: none)
	// MetaFallback is open's note, for people, of where it deviated:
	// why it used the older meta page, or why it rebuilt the free list,
	// or both. Its words may change; the fields below say which parts
	// it has, for programs (bbolt has none of them).
	MetaFallback string
	// OlderMeta: open used one meta page, the other being unusable or
	// naming a commit a crash tore, so the state may be the one before
	// the newest commit, which is then lost.
	OlderMeta bool
	// FreelistRebuilt: the persisted free list was unusable (damaged, or
	// naming its own pages) and open rebuilt it from the tree; the state
	// is still the meta's.
	FreelistRebuilt bool
	// FreeListedInUse counts pages the persisted free list named though
	// a tree reaches them; they stay allocated (only a read-write open
	// with VerifyChecksums looks).
	FreeListedInUse int

	// WAL mode.
	WAL            bool
	LogBytes       int64     // bytes of live log
	CheckpointTxID page.TxID // txid of the meta last written to the file (at most TxID)
	LogPending     int       // commits in the log and not yet checkpointed: TxID - CheckpointTxID
	Replayed       int       // commits this open replayed from the log
	ReplayedTxID   page.TxID // txid of the last of them (0: none)
}

// Info returns the file's current state, or ErrDatabaseNotOpen once
// Close has begun. NB: bbolt's Info returns *Info (the map's address and
// the page size); this one's fields are folio's.
func (db *DB) Info() (Info, error) {
	if db == nil {
		return Info{}, db.notOpen()
	}
	// The log's size is read before mu, as it waits for an append in
	// progress, while publishing a commit waits for mu.
	var logBytes int64
	if db.wal.log != nil { // set once, at Open
		logBytes = db.wal.log.Size()
	}
	// The file's size is read after mu (an fstat, kept off the lock), so
	// that it holds every page of the snapshot read under it: read
	// before, a commit in between could publish pages past it. The file
	// can shrink, though (giveBackTail): when two commits between the
	// two reads lowered the high water mark and cut the file, the size
	// is short of the snapshot, and both are read again.
	for try := 0; ; try++ {
		in, err := db.infoLocked(logBytes)
		if err != nil {
			return Info{}, err
		}
		in.FileSize = db.st.Size()
		if in.FileSize >= int64(in.HighPage)*int64(in.PageSize) || try == 100 {
			return in, nil
		}
	}
}

// infoLocked reads the published snapshot under mu, as a commit publishes
// it, so that it and the checkpoint txid are of one moment (a snapshot
// pinned before taking mu could be commits older).
func (db *DB) infoLocked(logBytes int64) (Info, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.current.Load()
	if s == nil {
		return Info{}, db.notOpen()
	}
	in := Info{
		Version:      page.Version,
		PageSize:     db.pageSize,
		TxID:         s.meta.TxID,
		MetaSlot:     db.metaSlot,
		HighPage:     s.meta.High,
		Root:         s.meta.Root,
		Freelist:     s.meta.Freelist,
		MetaFallback: db.fallback,

		OlderMeta:       db.olderMeta,
		FreelistRebuilt: db.freelistRebuilt,
		FreeListedInUse: db.freeListedInUse,
	}
	for _, v := range db.metaVersions {
		if v != 0 && v < in.Version {
			in.Version = v // an older folio still opens the file
		}
	}
	if db.wal.log != nil {
		in.WAL = true
		in.LogBytes = logBytes
		// INVARIANT: a checkpoint's txid and meta slot change as its
		// commit is published, under mu (Commit, step 7): they are the
		// published snapshot's, so LogPending is never negative.
		in.CheckpointTxID = db.wal.ckptTxID
		in.LogPending = int(s.meta.TxID - in.CheckpointTxID)
		in.Replayed, in.ReplayedTxID = db.wal.replayed, db.wal.replayedTxID
	}
	in.FreePages, in.PendingPages = db.freeCountsPublishedLocked()
	return in, nil
}

// freeCountsPublishedLocked counts the free and pending pages of the
// published snapshot, for Info and Stats. REQUIRES: db.mu.
//
// NB: the free list is head's, the next writer's: in WAL mode a logged
// commit waiting for its sync may be ahead of the published snapshot,
// and count pages it freed past its high water mark (Info said 48
// pending pages below high page 5). The counts the published snapshot's
// commit left stand in.
func (db *DB) freeCountsPublishedLocked() (free, pending int) {
	s := db.current.Load()
	if s == nil || db.head == s {
		return db.freeCountsLocked() // a Begin may have released pages since
	}
	return s.freePages, s.pendingPages
}

// freeCountsLocked counts the free list's free and pending pages (held
// runs among the pending). REQUIRES: db.mu.
func (db *DB) freeCountsLocked() (free, pending int) {
	if db.freelist != nil {
		free, pending = int(db.freelist.FreeCount()), int(db.freelist.PendingCount())
	}
	if db.wal.held != nil {
		pending += int(db.wal.held.PendingCount())
	}
	return free, pending
}
