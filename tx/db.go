// Package tx holds folio's transactions: the DB that owns the committed
// state and its readers, read snapshots, the write transaction with its
// buckets and cursors, and the commit protocol (commit.go).
//
// The root package opens the file and hands it over as a Storage; this
// package reads the meta pages, picks the current one and does the rest.
// DB, Tx, Bucket and Cursor are declared here (and re-exported by the
// root) because Tx.DB must return the DB type a bbolt program names.
package tx

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/freelist"
	"github.com/foliodb/folio/page"
)

// DB is an open database. Any number of read transactions and one write
// transaction may run at once, from any goroutines. Once Close has begun,
// every method that starts a transaction, Sync, Checkpoint and Info
// return ErrDatabaseNotOpen, as they and Close do on a nil *DB (whose
// other methods return zero values).
type DB struct {
	// NoSync skips syncs on commit (see Options.NoSync). May be changed
	// between transactions.
	NoSync bool
	// NoGrowSync skips syncing the file size after growth. Options.NoGrowSync
	// holds for the whole session: the file then never syncs its growth,
	// whatever this field says later.
	NoGrowSync bool
	// NoFreelistSync skips persisting the free-extent set.
	NoFreelistSync bool
	// MaxBatchSize caps how many Batch functions share one transaction
	// (0 or negative: DefaultMaxBatchSize; bbolt's then batches nothing).
	MaxBatchSize int
	// MaxBatchDelay is accepted for bbolt compatibility. folio never waits
	// to fill a batch: a batch is whatever queued while the previous
	// commit ran, so an idle system commits at once.
	MaxBatchDelay time.Duration
	// AllocSize is the largest step the file grows by (smaller files
	// double; 0 or negative: no cap, the file always doubles).
	AllocSize int

	// WALImageLimit (WAL mode) chooses what a commit logs. 0 (the
	// default): its operations (keys and values) when they take a
	// quarter of its page images or less, else the images up to 1 MiB,
	// else nothing (a direct commit). Positive: the images whenever they
	// take at most WALImageLimit bytes (64 MiB at most, the largest
	// record replay takes), then as the default. Negative: operations
	// always. In every mode a transaction of more than 64 MiB of
	// operations commits directly. After an operations record, a commit
	// that would log images logs operations instead until the next
	// checkpoint (a direct commit is one).
	WALImageLimit int

	// Accepted for bbolt compatibility; folio ignores them (it checks
	// with Tx.Check, keeps one free-list type, loads it on open, takes
	// MmapFlags from Options, and locks no memory: Options.Mlock is
	// ignored too).
	StrictMode      bool
	FreelistType    FreelistType
	PreLoadFreelist bool
	MmapFlags       int
	Mlock           bool

	path     string
	opts     Options
	st       Storage
	pageSize int
	readOnly bool
	logf     func(string, ...any)

	// current is the snapshot new read transactions begin on.
	current atomic.Pointer[snapshot]
	// head is the state the next write transaction begins on: current,
	// or a newer logged commit still waiting for its log sync (WAL mode).
	// Guarded by mu; changed only under the write lock.
	head *snapshot

	// writer is held by the write transaction from Begin to its end.
	writer sync.Mutex

	// mu guards the writer's state between transactions and the list of
	// snapshots readers may still hold.
	mu          sync.Mutex
	olds        []*snapshot    // earlier snapshots, possibly still read
	freelist    *freelist.List // free and pending extents as of current
	failed      error          // a sync failed: refuse writes (ErrSyncFailed)
	fileSize    int64          // the file's length
	viewSize    int64          // the newest view's length
	pendingView *view          // mapped by grow, for the next snapshot
	// fallback is open's note of where it deviated from the newest meta
	// and its persisted free list, if it did; olderMeta, freelistRebuilt
	// and freeListedInUse say which parts it has, for tools that tell
	// them apart (Info), so none need read the note's words. All set at
	// open only.
	fallback        string
	olderMeta       bool // open used one meta page, the other unusable or torn
	freelistRebuilt bool // the persisted free list was unusable: rebuilt from the tree
	freeListedInUse int  // pages the persisted free list named that a tree reaches
	metaSlot        int  // the meta page (0 or 1) holding the durable meta
	// metaVersions is each meta page's format version as this DB last
	// read or wrote it (0: it did not decode at open). Written under the
	// write lock and mu (or before publishing, at open); Info reads it.
	metaVersions [2]uint32
	// unsyncedEnd (direct mode, write lock): the file may hold writes no
	// sync covered below this offset (NoSync commits): the next synced
	// commit, whose tree may reach them, makes [0, unsyncedEnd) durable
	// before its meta (an open syncs what an earlier process left).
	unsyncedEnd int64
	wal         walState // WAL mode when wal.log != nil; under the write lock
	// handled (under mu) holds the snapshots write transactions began
	// on while their OnCommit handlers run: the values they read lie in
	// its pages, which later writers must neither reuse nor cut from the
	// file until the handlers return (readersLocked, readableHighLocked).
	// Not a reader's pin: Close does not wait for them (a handler may
	// call it).
	handled []*snapshot
	// maps holds the address ranges of every live view (mapFile), for
	// the fault guard to tell a fault in the file from any other.
	maps mapSet

	// spareBufs are page buffers of earlier commits, for the writer's
	// reuse; touched only under the write lock, as are extents (the free
	// set a commit encodes) and metaBuf (the meta page it writes), kept
	// for the next commit: fresh memory costs a page fault per 4 KiB.
	spareBufs [][]byte
	// freelistRun is the last freelist run a commit wrote, so the next
	// commit frees it without reading its header (freelistPagesCount);
	// 0 pages if open found the meta's run inside the tree. Write lock.
	freelistRun freelistRun
	extents     []page.Extent
	metaBuf     []byte
	commitRuns  []page.CommitRun // reused by commitOneSync

	batchMu sync.Mutex
	batch   *batch // calls queued for the next batch transaction
	// batchLead is the batch leader's token (capacity 1): one Batch caller
	// at a time queues for the write lock on the batch's behalf, the rest
	// wait for their results, not for the lock (batch.go).
	batchLead chan struct{}

	// inFn is set while the write transaction runs its caller's function
	// (Update, Batch): no commit syncs the file meanwhile, so Sync may
	// run without the write lock. fnSyncs counts the Syncs doing so; the
	// writer waits for them before it commits or rolls back (leaveFn).
	// inFn is guarded by mu. syncMu serialises Syncs.
	inFn    bool
	fnSyncs sync.WaitGroup
	syncMu  sync.Mutex

	stats  statCounters
	txPool sync.Pool

	// closeMu serialises Close: a second Close returns once the first
	// has released the file. (Close gives up the write lock while it
	// waits for readers, so that lock cannot do this.)
	closeMu sync.Mutex
}

// Open opens the database held by st (see the root package's Open, which
// locks and creates the file). path is for messages only.
func Open(path string, st Storage, opts *Options) (*DB, error) {
	return OpenWithLog(path, st, nil, opts)
}

// OpenWithLog opens the database held by st with the write-ahead log lg
// (nil: none). Commits the log holds beyond the file's meta are replayed
// into the file first. With a log, commits append to it and sync it once
// (WAL mode); the file gets its meta pages only at checkpoints.
func OpenWithLog(path string, st Storage, lg Log, opts *Options) (*DB, error) {
	if opts == nil {
		opts = DefaultOptions
	}
	db := &DB{
		path: path, opts: *opts, st: st, readOnly: opts.ReadOnly,
		NoSync: opts.NoSync, NoGrowSync: opts.NoGrowSync, NoFreelistSync: opts.NoFreelistSync,
		MaxBatchSize: DefaultMaxBatchSize, MaxBatchDelay: DefaultMaxBatchDelay, AllocSize: DefaultAllocSize,
		logf:      func(string, ...any) {},
		batchLead: make(chan struct{}, 1),
	}
	if opts.Logger != nil {
		db.logf = opts.Logger.Printf
	}
	db.fileSize = st.Size()
	if db.fileSize < 2*page.MinPageSize {
		return nil, fmt.Errorf("folio: %s: %w: %d bytes is too short for two meta pages", path, ErrInvalid, db.fileSize)
	}
	v, err := db.mapLocked(db.fileSize)
	if err != nil {
		return nil, err
	}
	s := &snapshot{view: v}
	var torn int
	if s.meta, torn, err = db.chooseMeta(v.bytes[:db.fileSize]); err != nil {
		_ = v.v.Close()
		return nil, err
	}
	db.pageSize = int(s.meta.PageSize)
	if torn >= 0 && !db.readOnly {
		// The torn commit's meta names free pages that the next commit
		// may write again, byte for byte: replace it before any does.
		if err := db.putMeta(torn, &s.meta, true); err != nil {
			_ = v.v.Close()
			return nil, fmt.Errorf("folio: open %s: replace the torn commit's meta: %w", path, err)
		}
	}
	if lg == nil && !db.readOnly {
		// An earlier process may have left writes no sync covered (a
		// NoSync session). This session's first synced commit may reach
		// them, and a one-sync commit's meta lists only its own runs for
		// Open to verify: make them durable first (cheap when nothing is
		// dirty). Within a session, unsyncedEnd does the same.
		if err := st.SyncRange(0, db.fileSize); err != nil {
			_ = v.v.Close()
			return nil, fmt.Errorf("folio: open %s: sync the file: %w", path, err)
		}
	}
	if lg != nil {
		db.wal = walState{log: lg, ckptTime: time.Now(), ckptBytes: opts.CheckpointBytes, ckptEvery: opts.CheckpointInterval, held: freelist.New()}
		if db.wal.ckptBytes <= 0 {
			db.wal.ckptBytes = DefaultCheckpointBytes
		}
		if db.wal.ckptEvery <= 0 {
			db.wal.ckptEvery = DefaultCheckpointInterval
		}
		if s.meta, err = db.replayLog(s); err != nil {
			_ = s.view.v.Close()
			return nil, err
		}
		v = s.view // mapped anew if the replay grew the file past it
		// What an earlier process left unsynced, as above (after the
		// replay, which writes nothing if it refuses the log): the
		// anchor below names this meta, and a checkpoint syncs only what
		// this session wrote. Until 2026-12-07 a power cut after a
		// WAL-mode session on a NoSync session's file left a log its
		// file did not follow, or a checkpoint over lost pages
		// (TestWALOpenAfterNoSyncSession).
		if !db.readOnly {
			if err := st.SyncRange(0, db.fileSize); err != nil {
				_ = v.v.Close()
				return nil, fmt.Errorf("folio: open %s: sync the file: %w", path, err)
			}
		}
		// Logged commits from now on follow this state (walanchor.go);
		// logical records still to replay end in a checkpoint, which
		// anchors its own. A log that names it last already gets no
		// second anchor: opens without commits do not grow the log.
		a := db.wal.anchor
		named := a.ok && a.txid == s.meta.TxID && a.sum == s.meta.RootSum
		if !db.readOnly && !db.wal.opsPending && !named {
			if err := db.appendAnchor(&s.meta); err != nil {
				_ = v.v.Close()
				return nil, err
			}
		}
		if db.fileSize > db.viewSize {
			_ = v.v.Close()
			if v, err = db.mapLocked(db.fileSize); err != nil {
				return nil, err
			}
			s.view = v
		}
	}
	db.freelist = freelist.New()
	if err := db.loadFreelist(s); err != nil {
		_ = v.v.Close()
		return nil, err
	}
	s.freePages, s.pendingPages = db.freeCountsLocked()
	db.publishLocked(s)
	db.head = s
	if db.wal.opsPending {
		if err := db.replayOps(); err != nil {
			// Nothing of the replay may reach the file: no checkpoint,
			// no truncation on the way out.
			db.refuseWrites(err)
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

// mapSize is how much to map for a file of size bytes: room to grow
// without remapping at every step (address space is cheap; the kernel
// fills only what is read).
func (db *DB) mapSize(size int64) int64 { return MapSize(db.opts.InitialMmapSize, size) }

// MapSize is how much a DB opened with Options.InitialMmapSize initial
// maps of a file of size bytes (the root's Open tries such a mapping
// before it creates a file).
func MapSize(initial int, size int64) int64 {
	m := int64(1 << 24)
	if int64(initial) > m {
		m = int64(initial)
	}
	for m < size && m < 1<<30 {
		m *= 2
	}
	if m < size {
		m = (size + 1<<30 - 1) &^ (1<<30 - 1)
	}
	// NB: on 32-bit platforms, room to grow must not make a file that
	// fits in an int unmappable (a 1.5 GiB file rounded up to 2 GiB).
	if lim := int64(math.MaxInt &^ (1<<16 - 1)); m > lim && size <= lim {
		m = lim
	}
	return m
}

// mapLocked maps the file for a size of at least size bytes.
func (db *DB) mapLocked(size int64) (*view, error) {
	want := db.mapSize(size)
	v, err := db.mapFile(want)
	if err != nil {
		return nil, fmt.Errorf("folio: map %s (%d bytes): %w", db.path, want, err)
	}
	db.viewSize = want
	return &view{v: v, bytes: v.Bytes(), db: db}, nil
}

// chooseMeta reads both meta pages and returns the valid one with the
// higher txid, and the slot of a torn one-sync commit it passed over
// (-1 if none), which Open then overwrites. A meta page that does not decode (torn or zeroed by a crash
// during its write) makes Open use the other one; that fallback is noted
// in Stats and logged, never silent. So does a newest meta listing runs
// (a one-sync commit) that did not all reach the disk. Otherwise a meta
// that decodes but points at pages that fail their checks is corruption,
// not a crash artifact (its pages were durable before it was written,
// invariant 2), and fails Open rather than silently serving an older
// state.
//
// Two meta pages that both decode must agree on the page size, and meta
// page 1 must sit at the offset of the size it says. folio writes both
// metas at create with one page size (InitialImage), and so does a copy
// (Tx.WriteTo); every commit writes one at the page size open found. No
// crash leaves metas that disagree, so a file whose metas do is
// damaged or hostile. Neither reading is safe (the page size decides
// where every page is), so Open fails with ErrCorrupt naming both sizes
// rather than trusting the meta with the higher txid.
func (db *DB) chooseMeta(data []byte) (_ page.Meta, torn int, _ error) {
	m0, err0 := page.DecodeMeta(data, 0)
	var m1 page.Meta
	var err1 error = ErrInvalid
	if err0 == nil {
		// NB: DecodeMeta checked that the page size fits in data.
		m1, err1 = page.DecodeMeta(data[m0.PageSize:], 1)
		if err1 == nil && m1.PageSize != m0.PageSize {
			return page.Meta{}, -1, fmt.Errorf("folio: open %s: the meta pages disagree on the page size (meta page 0: %d, meta page 1: %d): %w",
				db.path, m0.PageSize, m1.PageSize, page.Corruptf(1, "meta page size",
					fmt.Sprintf("%d bytes (meta page 0's)", m0.PageSize), fmt.Sprintf("%d bytes", m1.PageSize)))
		}
	} else {
		// Slot 0 is unreadable: find slot 1 at each possible page size.
		// The first meta page that decodes must be at the offset of its
		// own page size: one found elsewhere lies inside page 0 or where
		// a page-1 meta of its size was not, written by no folio.
		// If none does, the error quoted for meta page 1 is the one at the
		// page size meta page 0 claims, or else at the OS page size: not
		// that of the last size tried, likely no folio page size at all.
		quote := page.ClaimedPageSize(data)
		if quote == 0 {
			quote = os.Getpagesize() // what a file created without Options.PageSize has
		}
		var quoted error
		for size := page.MinPageSize; size <= page.MaxPageSize && 2*size <= len(data); size *= 2 {
			if m1, err1 = page.DecodeMeta(data[size:], 1); err1 != nil && (size == quote || quoted == nil) {
				quoted = fmt.Errorf("at offset %d: %w", size, unprefixed(err1))
			}
			if err1 == nil {
				if int(m1.PageSize) != size {
					return page.Meta{}, -1, fmt.Errorf("folio: open %s: meta page 0 unusable (%v), and meta page 1, found at offset %d (page size %d), says page size %d: %w",
						db.path, unprefixed(err0), size, size, m1.PageSize, page.Corruptf(1, "meta page size",
							fmt.Sprintf("%d bytes (its offset)", size), fmt.Sprintf("%d bytes", m1.PageSize)))
				}
				break
			}
		}
		if err1 != nil && quoted != nil {
			err1 = quoted
		}
	}
	if err0 == nil {
		db.metaVersions[0] = page.MetaVersion(data)
	}
	if err1 == nil {
		// NB: slot 1 decoded at the offset of its own page size.
		db.metaVersions[1] = page.MetaVersion(data[m1.PageSize:])
	}
	var m page.Meta
	switch {
	case err0 == nil && err1 == nil:
		m, db.metaSlot = m0, 0
		older := m1
		if m1.TxID > m0.TxID {
			m, db.metaSlot, older = m1, 1, m0
		}
		if verr := db.verifyCommit(data, m, db.metaSlot); verr != nil {
			// A one-sync commit torn by a crash: it was never
			// acknowledged, and the older meta's pages are intact.
			slot := 1 - db.metaSlot
			if err := db.checkOlderMeta(data, older, slot); err != nil {
				// NB: err is quoted, not wrapped: its "folio: " is dropped
				// here, as in the default case below.
				return page.Meta{}, -1, fmt.Errorf("folio: open %s: %w (the older meta page %d: %v)", db.path, verr, slot, unprefixed(err))
			}
			db.metaSlot = slot
			db.olderMeta = true
			db.fallback = fmt.Sprintf("meta page %d names txid %d, whose commit did not reach the disk whole (%v); opened txid %d from meta page %d", 1-slot, m.TxID, unprefixed(verr), older.TxID, slot)
			db.logf("folio: %s: %s", db.path, db.fallback)
			return older, 1 - slot, nil
		}
	case err0 == nil || err1 == nil:
		m, bad, badErr := m0, 1, err1
		if err1 == nil {
			m, bad, badErr = m1, 0, err0
		}
		if err := db.checkOlderMeta(data, m, 1-bad); err != nil {
			return page.Meta{}, -1, fmt.Errorf("folio: open %s: %w", db.path, err)
		}
		db.metaSlot = 1 - bad
		// NB: the errors in a note are quoted without their "folio: ":
		// the note goes into a line or message that says it once.
		db.olderMeta = true
		db.fallback = fmt.Sprintf("meta page %d unusable (%v); opened txid %d from meta page %d", bad, unprefixed(badErr), m.TxID, 1-bad)
		db.logf("folio: %s: %s", db.path, db.fallback)
		return m, -1, nil
	case errors.Is(err0, ErrVersionMismatch) || errors.Is(err1, ErrVersionMismatch):
		return page.Meta{}, -1, fmt.Errorf("folio: open %s: %w", db.path, firstVersionErr(err0, err1))
	case errors.Is(err0, ErrInvalid) && errors.Is(err1, ErrInvalid):
		return page.Meta{}, -1, fmt.Errorf("folio: open %s: %w", db.path, err0)
	default:
		// NB: err1 is quoted, not wrapped: its "folio: " is dropped here,
		// where a wrapped error's is dropped by whoever prints the chain.
		return page.Meta{}, -1, fmt.Errorf("folio: open %s: no usable meta page: %w (meta 1: %v)", db.path, err0, unprefixed(err1))
	}
	if err := db.checkMeta(data, m); err != nil {
		return page.Meta{}, -1, fmt.Errorf("folio: open %s: %w", db.path, err)
	}
	return m, -1, nil
}

func firstVersionErr(a, b error) error {
	if errors.Is(a, ErrVersionMismatch) {
		return a
	}
	return b
}

// verifyCommit checks the runs the meta in slot lists, if any: a commit
// that synced its pages and meta together (commitOneSync) is whole only
// if all of them reached the disk.
func (db *DB) verifyCommit(data []byte, m page.Meta, slot int) error {
	runs := page.MetaCommitRuns(data[slot*int(m.PageSize):], db.commitRuns[:0])
	if len(runs) == 0 {
		return nil
	}
	return page.VerifyCommit(data, int(m.PageSize), &m, runs)
}

// checkOlderMeta is checkMeta and verifyCommit for a meta Open falls back
// to. Its commit was acknowledged before the newer one began, so a run
// it lists that fails is damage, not a crash.
func (db *DB) checkOlderMeta(data []byte, m page.Meta, slot int) error {
	if err := db.verifyCommit(data, m, slot); err != nil {
		return err
	}
	return db.checkMeta(data, m)
}

// checkMeta checks what a meta points at before it is trusted: the file
// holds its pages, and its root and freelist headers match.
func (db *DB) checkMeta(data []byte, m page.Meta) error {
	ps := int64(m.PageSize)
	// NB: divide rather than multiply: High comes from the file, and
	// High*ps can wrap to a small number (High = 1<<54 with 1 KiB pages).
	if uint64(m.High) > uint64(len(data))/uint64(ps) {
		return page.Corruptf(m.High-1, "file length", fmt.Sprintf("%d pages of %d bytes", m.High, ps), fmt.Sprintf("%d bytes (truncated?)", len(data)))
	}
	r := reader{data: data, pageSize: int(ps), high: m.High, verify: true}
	if m.Root != 0 {
		if _, err := r.Run(m.Root, page.FlagBranch|page.FlagLeaf, m.RootSum); err != nil {
			return err
		}
	}
	// A damaged free list does not disqualify a meta: it is rebuilt.
	return nil
}

// loadFreelist fills db.freelist from the snapshot's persisted extents,
// or, when none were persisted, from a walk of everything reachable.
func (db *DB) loadFreelist(s *snapshot) error {
	r := reader{data: s.view.bytes, pageSize: db.pageSize, high: s.meta.High, verify: db.opts.VerifyChecksums}
	keep := 0 // pages of a damaged freelist run, kept out of the free set
	if s.meta.Freelist != 0 {
		exts, err := db.readFreelist(&r, s.meta)
		inUse := 0
		if err == nil && db.opts.VerifyChecksums && !db.readOnly {
			// A file not trusted: a list naming a page in use would
			// have a commit overwrite it; a page two parents reach would
			// be freed through one and overwritten under the other.
			if exts, inUse, err = db.freeInUse(&r, s.meta, exts); err != nil {
				return fmt.Errorf("folio: open %s: %w", db.path, err)
			}
			if inUse > 0 {
				db.freeListedInUse = inUse
				note := fmt.Sprintf("free list names %d pages in use; they stay allocated", inUse)
				if db.fallback != "" {
					note = db.fallback + "; " + note
				}
				db.fallback = note
				db.logf("folio: %s: %s", db.path, note)
			}
		}
		if err == nil {
			db.freelist.Load(exts)
			if d, derr := page.DecodeFreeDelta(s.meta, 0); derr == nil && inUse == 0 && db.wal.log == nil {
				// The set is the meta's: later commits may keep its run
				// and list their changes against it (Tx.freeDelta; not
				// in WAL mode, whose checkpoints write the list whole).
				db.freelist.TrackDelta(d, page.MaxFreeDelta(db.pageSize))
				db.freelistRun = freelistRun{s.meta.Freelist, freelistRunPages(r.data, r.pageSize, s.meta), s.meta.High}
			}
			return nil
		}
		// The free list is derived data: rebuild it from the tree rather
		// than refuse the file. Check still reports the damaged page. The
		// old run stays allocated: the next commit frees it as usual.
		keep = freelistRunPages(r.data, r.pageSize, s.meta)
		db.freelistRebuilt = true
		note := fmt.Sprintf("free list unreadable (%v); rebuilt from the tree", unprefixed(err))
		if db.fallback != "" {
			note = db.fallback + "; " + note
		}
		db.fallback = note
		db.logf("folio: %s: %s", db.path, note)
	}
	var walkErr error
	used := usedPages(r, s.meta, func(err error) {
		if walkErr == nil {
			walkErr = err
		}
	})
	if walkErr != nil {
		return fmt.Errorf("folio: open %s: rebuilding the free list: %w", db.path, walkErr)
	}
	if inTree := slices.Contains(used[s.meta.Freelist:s.meta.Freelist+page.ID(keep)], true); inTree {
		// NB: the meta names pages of the tree as its free-list run (a
		// buggy or hostile writer): the next commit must not free them
		// as the old run, or a later one overwrites pages in use.
		db.freelistRun = freelistRun{s.meta.Freelist, 0, 0}
	} else {
		markUsed(used, s.meta.Freelist, keep)
	}
	var exts []page.Extent
	for id := page.ID(2); id < s.meta.High; id++ {
		if used[id] {
			continue
		}
		if n := len(exts); n > 0 && exts[n-1].Start+page.ID(exts[n-1].Len) == id {
			exts[n-1].Len++
		} else {
			exts = append(exts, page.Extent{Start: id, Len: 1})
		}
	}
	db.freelist.Load(exts)
	return nil
}

// freeInUse walks the trees of m (every run checksummed) and returns
// exts without the pages a tree reaches, and how many those were; or
// ErrCorrupt naming a page the trees reach twice. Other damage is left
// for reads and Check to report.
func (db *DB) freeInUse(r *reader, m page.Meta, exts []page.Extent) ([]page.Extent, int, error) {
	var twice error
	used := usedPages(*r, m, func(err error) {
		// NB: the Whats of btree's errTwice and of sharedTree (below).
		var ce *page.CorruptError
		if twice == nil && errors.As(err, &ce) && (ce.What == "references" || ce.What == "bucket root") {
			twice = err
		}
	})
	if twice != nil {
		return nil, 0, twice
	}
	var out []page.Extent
	inUse := 0
	for _, e := range exts {
		for id := e.Start; id < e.Start+page.ID(e.Len); id++ {
			switch n := len(out); {
			case used[id]:
				inUse++
			case n > 0 && out[n-1].Start+page.ID(out[n-1].Len) == id:
				out[n-1].Len++
			default:
				out = append(out, page.Extent{Start: id, Len: 1})
			}
		}
	}
	return out, inUse, nil
}

// readFreelist reads and decodes the persisted free extents of m.
func (db *DB) readFreelist(r *reader, m page.Meta) ([]page.Extent, error) {
	p, err := r.Run(m.Freelist, page.FlagFreelist, m.FreelistSum)
	if err != nil {
		return nil, err
	}
	if page.Checksum(p) != m.FreelistSum {
		return nil, page.Corruptf(m.Freelist, "checksum", fmt.Sprintf("%#08x", m.FreelistSum), fmt.Sprintf("%#08x", page.Checksum(p)))
	}
	base, err := page.DecodeFreelist(p[page.HeaderSize:], m.Freelist, m.High)
	if err != nil {
		return nil, err
	}
	exts, err := page.ApplyFreeDelta(base, m, page.ID(m.TxID%2))
	if err != nil {
		return nil, err
	}
	// NB: a list naming its own run's pages free (a hostile or buggy
	// writer) would have a commit that keeps the run as its base hand
	// them out, and the next commit writing a new base free them, tree
	// pages by then: TestFreeListNamingItsRunIsRebuilt.
	lo, hi := m.Freelist, m.Freelist+page.ID(len(p)/r.pageSize)
	i, _ := slices.BinarySearchFunc(exts, lo, func(e page.Extent, id page.ID) int {
		return cmp.Compare(e.Start+page.ID(e.Len), id+1)
	})
	if i < len(exts) && exts[i].Start < hi {
		return nil, page.Corruptf(m.Freelist, "free list", "its own run not free", fmt.Sprintf("free [%d, +%d)", exts[i].Start, exts[i].Len))
	}
	return exts, nil
}

// usedPages walks the trees of m and marks the pages they reach; problem
// gets what the walk finds wrong. The walk decides which pages later
// commits may overwrite, so it trusts no page whose checksum fails,
// whatever VerifyChecksums says: a damaged branch's child ids would free
// pages that are in use.
func usedPages(r reader, m page.Meta, problem func(error)) []bool {
	used := make([]bool, m.High)
	r.verify = true
	walkTrees(&r, treeRef{h: page.BucketHeader{Root: m.Root, RootSum: m.RootSum}}, false, btree.Walker{
		Page:    func(id page.ID, n int, _ page.Flags, _ int) { markUsed(used, id, n) },
		Problem: problem,
	}, nil)
	return used
}

// markUsed marks pages [id, id+n) in used, those below len(used) only.
// NB: id may be any number a damaged page holds; int(id) can be negative.
func markUsed(used []bool, id page.ID, n int) {
	for i := 0; i < n && uint64(id)+uint64(i) < uint64(len(used)); i++ {
		used[int(id)+i] = true
	}
}

// treeRef is a tree walkTrees walks: a bucket's header, and an inline
// bucket's leaf with the page holding it.
type treeRef struct {
	h    page.BucketHeader
	leaf []byte
	from page.ID
}

// walkTrees walks the tree top (the bucket directory, or a bucket) and
// every bucket under it, each tree once, with w's Page, Elem and Problem
// as Tree.Walk calls them (Elem for every element, nested bucket headers
// included; an inline bucket's leaf has no Page). bucket, if set, is
// called once for each header met, top's included.
//
// NB: a worklist, not recursion, and each tree walked once: a damaged or
// hostile file's bucket headers may form a cycle, or share trees (a DAG
// whose paths a walk would follow one by one, 3^24 of them for 24 levels
// of three), and folio nests buckets as deep as a program asks, deeper
// than any fixed limit a healthy file must stay within.
func walkTrees(r *reader, top treeRef, verify bool, w btree.Walker, bucket func(treeRef)) {
	seen := map[page.ID]bool{}
	work := []treeRef{top}
	elem, pageFn := w.Elem, w.Page
	w.Seen = btree.NewPageSet(r.high) // each page once, across the trees too
	// leaf is the leaf whose elements Elem is given: Walk calls Page for
	// a run before its elements, so a bad header names its page.
	var leaf page.ID
	w.Page = func(id page.ID, pages int, kind page.Flags, depth int) {
		if kind == page.FlagLeaf {
			leaf = id
		}
		if pageFn != nil {
			pageFn(id, pages, kind, depth)
		}
	}
	w.Elem = func(key, stored []byte, flags uint32) {
		if elem != nil {
			elem(key, stored, flags)
		}
		if flags&page.LeafBucket == 0 {
			return
		}
		nested, err := page.DecodeBucketHeader(stored, leaf)
		if err != nil {
			w.Problem(err)
			return
		}
		ref := treeRef{h: nested}
		if nested.Inline {
			ref.leaf, ref.from = page.BucketLeaf(stored), leaf
		}
		work = append(work, ref)
	}
	for len(work) > 0 {
		ref := work[len(work)-1]
		h := ref.h
		work = work[:len(work)-1]
		if bucket != nil {
			bucket(ref)
		}
		if h.Inline {
			// No pages of its own, none shared; the walk checks the leaf
			// as a leaf page's contents. Its elements are named by the
			// page holding it: no Page call says which (and a leaf only
			// page.ReadBucketHeader checked may claim a nested bucket).
			leaf = ref.from
			btree.NewInline(r, ref.leaf, ref.from).Walk(verify, w)
			continue
		}
		if h.Root == 0 {
			continue
		}
		if seen[h.Root] {
			w.Problem(sharedTree(h.Root))
			continue
		}
		seen[h.Root] = true
		btree.New(r, h.Root, h.RootSum).Walk(verify, w)
	}
}

// sharedTree is the problem of a bucket tree reached a second time: from
// two bucket headers, or from its own pages (a cycle).
func sharedTree(root page.ID) error {
	return page.Corruptf(root, "bucket root", "one bucket per tree", "reached twice (shared by two buckets, or a cycle)")
}

// Path returns the path of the database file.
func (db *DB) Path() string {
	if db == nil {
		return ""
	}
	return db.path
}

// IsReadOnly reports whether the DB was opened read-only.
func (db *DB) IsReadOnly() bool { return db != nil && db.readOnly }

// String describes the DB by its path; a nil *DB prints "<nil>", as
// fmt prints a nil pointer (format.go).
func (db *DB) String() string {
	if db == nil {
		return nilString
	}
	return fmt.Sprintf("DB<%q>", db.path)
}

// GoString is String, for %#v: fmt's default printed every field, the
// page buffers kept for the next commit included (tens of KiB), reading
// them as a commit changed them.
func (db *DB) GoString() string { return db.String() }

// notOpen is ErrDatabaseNotOpen naming the database, and readOnlyErr
// ErrDatabaseReadOnly: a program with several databases learns which
// one refused. The sentinel comes first, as ErrMaxSizeReached's does.
func (db *DB) notOpen() error {
	if db == nil {
		return errNilDB
	}
	return db.withPath(ErrDatabaseNotOpen)
}
func (db *DB) readOnlyErr() error { return db.withPath(ErrDatabaseReadOnly) }

// errNilDB is what a nil *DB's methods return (an Open whose error went
// unchecked): each panicked with a nil pointer, where a closed DB's
// return ErrDatabaseNotOpen. Methods without an error return a zero
// value. One compare each; View's was not measurable.
var errNilDB = fmt.Errorf("%w: a nil *DB (did Open fail?)", ErrDatabaseNotOpen)

func (db *DB) withPath(err error) error {
	if db.path == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, db.path)
}

// PageSize is the database's page size.
func (db *DB) PageSize() int {
	if db == nil {
		return 0
	}
	return db.pageSize
}

// Sync makes every commit so far durable, as bbolt's fdatasync does:
// useful with NoSync, where commits do not sync. It syncs the file, and
// in WAL mode the log too: with NoSync the commits since the last
// checkpoint are only in the log (a checkpoint syncs its meta, NoSync or
// not). A failed sync is sticky, as a commit's (ErrSyncFailed).
//
// NB: in direct mode the state Sync made durable stays so only until the
// next NoSync commit: those reuse its freed pages and may cut the file's
// tail, unsynced, so a crash after them can leave a file that does not
// open, as in bbolt.
//
// Sync may be called from inside an Update or Batch function, and from
// other goroutines while commits run: it does not take the write lock
// while the transaction holding it runs its function, but no commit's
// own syncs ever run beside it. Otherwise it waits for the write
// transaction to end: from the goroutine holding one that Begin started,
// it would wait forever (call it after Commit).
func (db *DB) Sync() error {
	if db == nil {
		return db.notOpen()
	}
	// NB: the file has one descriptor, and Linux reports a failed
	// writeback to one sync of it only (errseq): a Sync beside a
	// commit's msync could take the error for the commit's pages, and
	// the commit would write its meta over pages the disk lost. So Sync
	// runs under the write lock, or while its holder runs a function,
	// when nothing else syncs the file (the storage copes with any
	// remap; the size the file is synced to changes only in commits).
	if !db.writer.TryLock() {
		db.mu.Lock()
		inFn := db.inFn
		if inFn {
			db.fnSyncs.Add(1)
		}
		db.mu.Unlock()
		if inFn {
			defer db.fnSyncs.Done()
			return db.syncAll()
		}
		db.writer.Lock()
	}
	defer db.writer.Unlock()
	return db.syncAll()
}

// syncAll is Sync's work. REQUIRES: no commit runs (the write lock, or
// its holder in its function).
func (db *DB) syncAll() error {
	// Syncs beside one another would share errors as a commit would.
	db.syncMu.Lock()
	defer db.syncMu.Unlock()
	if db.current.Load() == nil {
		return db.notOpen()
	}
	if db.readOnly {
		return nil // nothing written; the storage refuses syncs
	}
	// After a failed sync, a second one could report success for pages
	// the kernel dropped.
	if err := db.syncFailed(); err != nil {
		return err
	}
	// The file first: a log made durable while the meta of the last
	// checkpoint is not would follow a meta the file lost, and open
	// would refuse it (ErrLogMismatch).
	err := db.st.SyncRange(0, db.fileSize)
	if err == nil && db.wal.log != nil {
		err = db.wal.log.SyncTo(db.wal.lastLSN)
	}
	if err != nil {
		db.refuseWrites(err)
		return fmt.Errorf("folio: sync %s: %w (%w)", db.path, err, ErrSyncFailed)
	}
	return nil
}

// enterFn and leaveFn bracket the write transaction's function (Sync).
// leaveFn waits for the Syncs that ran meanwhile, so that none overlaps
// the commit's syncs, or the next writer's after a rollback.
// REQUIRES: the write lock.
func (db *DB) enterFn() {
	db.mu.Lock()
	db.inFn = true
	db.mu.Unlock()
}

func (db *DB) leaveFn() {
	db.mu.Lock()
	db.inFn = false
	db.mu.Unlock()
	db.fnSyncs.Wait()
}

// Close waits for open transactions to end, then releases the file.
// Once it has begun, new transactions, Sync and Checkpoint return
// ErrDatabaseNotOpen, also from a goroutine whose read transaction Close
// is waiting for. Calling Close again returns nil, once the first Close
// has returned. Called inside an Update, Batch or View function (or with
// a Tx from Begin open in the calling goroutine) it waits forever, for
// the transaction it runs in, as bbolt's does.
func (db *DB) Close() error {
	if db == nil {
		return db.notOpen()
	}
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	db.writer.Lock()
	var ckptErr error
	if db.wal.log != nil && db.current.Load() != nil {
		// A clean close leaves everything in the file: the log can go.
		ckptErr = db.checkpointLocked()
	}
	db.mu.Lock()
	s := db.current.Swap(nil)
	if s == nil {
		db.mu.Unlock()
		db.writer.Unlock()
		return nil
	}
	db.olds = append(db.olds, s)
	db.mu.Unlock()
	// Wait for readers (bbolt blocks Close the same way); they cannot
	// begin anew, as current is nil. NB: without the write lock. A
	// reader may call Sync, Checkpoint, Update or Batch before it ends
	// its transaction; with current nil each returns ErrDatabaseNotOpen
	// once it has the lock (holding it here, Close waited for the reader
	// and the reader for Close). No write can begin meanwhile: every
	// path to one checks current under the lock, and the checkpoint
	// above waited for the logged commits in flight.
	db.writer.Unlock()
	for {
		db.mu.Lock()
		db.pruneLocked()
		n := len(db.olds)
		db.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	db.writer.Lock()
	defer db.writer.Unlock()
	// After a failed log sync the logged commits since were never
	// published, and the views they mapped have no other owner.
	for _, v := range db.wal.unpublished {
		unmapUnusedLocked(v)
	}
	if v := db.pendingView; v != nil { // mapped by a commit that failed later
		_ = v.v.Close()
	}
	// Give back the space grown ahead of the data: a closed file ends at
	// its high water mark, as small as what it holds. Nothing maps it
	// now, and neither meta (durable, or checkpointed in WAL mode)
	// reaches a page past the higher of their marks (otherMetaHigh). Not
	// synced: a crash leaves the longer file, whose tail is free anyway.
	db.mu.Lock()
	failed := db.failed
	db.mu.Unlock()
	var tailErr error
	if !db.readOnly && failed == nil && ckptErr == nil {
		other, err := db.mappedOtherMetaHigh()
		if errors.Is(err, ErrCorrupt) {
			tailErr = err // the file was cut under the DB
		}
		if end := int64(max(db.head.meta.High, other)) * int64(db.pageSize); err == nil && end < db.st.Size() {
			if err := db.st.Truncate(end); err != nil {
				db.logf("folio: %s: give back the file's free tail on close: %v", db.path, err)
			}
		}
	}
	var logErr error
	if db.wal.log != nil {
		// NB: the log's last records (the anchor the checkpoint appended)
		// are synced here rather than by the log's Close, so that a
		// failure reads as the failed sync it is (ErrSyncFailed); it was
		// reported as the checkpoint's, which had succeeded. Nothing is
		// lost then: the file's meta is durable.
		if !db.readOnly && ckptErr == nil {
			if err := db.wal.log.SyncTo(db.wal.lastLSN); err != nil {
				logErr = fmt.Errorf("sync the write-ahead log: %w (%w)", err, ErrSyncFailed)
			}
		}
		if err := db.wal.log.Close(); err != nil && logErr == nil {
			logErr = fmt.Errorf("close the write-ahead log: %w", err)
		}
	}
	// NB: a failed checkpoint or log sync says the commits are not yet
	// durable in the file; a failed close of the file only adds to it.
	// The close error alone hid them.
	var err error
	closeErr := db.st.Close()
	switch {
	case ckptErr != nil:
		err = fmt.Errorf("folio: close %s: checkpoint: %w", db.path, ckptErr)
	case logErr != nil:
		err = fmt.Errorf("folio: close %s: %w", db.path, logErr)
	case closeErr != nil:
		return fmt.Errorf("folio: close %s: %w", db.path, closeErr)
	default:
		return tailErr
	}
	if closeErr != nil {
		err = fmt.Errorf("%w (and closing the file: %w)", err, closeErr)
	}
	return err
}

// Begin starts a transaction. Only one write transaction runs at a time:
// Begin(true) waits for the current one to end, so inside an Update or
// Batch function, or with a write Tx open in the calling goroutine, it
// waits forever (as bbolt's does). A read transaction must be rolled
// back when done, or its pages can never be reused, and Close waits for
// it. Begin returns ErrDatabaseNotOpen once Close has begun; Begin(true)
// returns ErrDatabaseReadOnly on a DB opened ReadOnly, and ErrSyncFailed
// (wrapping the first failure) once a sync has failed.
//
// A corrupt page met through a Tx from Begin makes Get and cursors return
// nil, as at the end of the data; Tx.Err then holds the ErrCorrupt error
// and Commit refuses the transaction. Unlike View, Update and Batch,
// Begin does not catch memory faults (Tx.Check, Tx.WriteTo and Tx.Page
// do): a Get or cursor reading a file truncated underneath the mapping
// crashes the program with SIGBUS.
func (db *DB) Begin(writable bool) (*Tx, error) {
	tx := &Tx{}
	if err := db.begin(tx, writable); err != nil {
		return nil, err
	}
	return tx, nil
}

func (db *DB) begin(tx *Tx, writable bool) error {
	if db == nil {
		return db.notOpen()
	}
	if !writable {
		s, stripe := db.pin()
		if s == nil {
			return db.notOpen()
		}
		tx.init(db, s, stripe, false)
		return nil
	}
	if db.readOnly {
		return db.readOnlyErr()
	}
	db.writer.Lock()
	if err := db.beginWriteLocked(tx); err != nil {
		db.writer.Unlock()
		return err
	}
	return nil
}

// beginWriteLocked starts the write transaction. REQUIRES: the write lock.
func (db *DB) beginWriteLocked(tx *Tx) error {
	db.mu.Lock()
	s := db.head
	if db.current.Load() == nil {
		db.mu.Unlock()
		return db.notOpen()
	}
	if db.failed != nil {
		err := db.failed
		db.mu.Unlock()
		return db.failedError(err)
	}
	// NB: the published snapshot, not head: in WAL mode logged commits
	// after it may still be published, and readers begin on them.
	older, cur := db.readersLocked(), db.current.Load().meta.TxID
	oldest := cur
	if len(older) > 0 {
		oldest = older[0]
	}
	db.freelist.Release(oldest)
	db.freelist.ReleaseUnseen(older, cur)
	fl := db.freelist.Clone()
	db.mu.Unlock()
	tx.init(db, s, -1, true)
	tx.freelist = fl
	tx.unseen = len(older) > 0 || cur < s.meta.TxID
	if db.wal.held != nil {
		tx.held = db.wal.held.Clone()
	}
	// A free extent ending at the high water mark leaves the mark, before
	// anything is allocated: best fit would otherwise put small runs in
	// it (it is often the shortest extent) and keep the tail in use.
	// Pages past the mark are taken back from its start when needed. The
	// file shrinks after a durable commit once enough lies past the mark
	// (giveBackTail).
	tx.high = fl.TrimTail(s.meta.High)
	tx.meta.TxID++
	if db.wal.log != nil && !tx.checkpoint && !tx.replay {
		tx.logging = true
		tx.ops = append(db.wal.opsBuf[:0], make([]byte, opsHeader)...)
		db.wal.opsBuf = nil
	}
	return nil
}

// View runs fn in a read transaction and returns its error, or the error
// of a corrupt page fn met (ErrCorrupt: Get and cursors then return nil,
// as at the end of the data), or ErrDatabaseNotOpen once Close has
// begun. The Tx must not be used after fn returns.
// If fn panics or calls runtime.Goexit, the snapshot is released; a nil
// fn panics too, as calling any nil func does. fn may call View, Update
// and Batch (these commit; fn keeps its snapshot), but not Close, which
// waits for fn's transaction forever.
func (db *DB) View(fn func(*Tx) error) error {
	if db == nil {
		return db.notOpen()
	}
	tx, _ := db.txPool.Get().(*Tx)
	if tx == nil {
		tx = &Tx{}
	}
	if err := db.begin(tx, false); err != nil {
		return err
	}
	tx.managed = true
	ended := false
	defer func() {
		if !ended { // fn panicked: release the snapshot on the way out
			tx.managed = false
			tx.end()
		}
	}()
	err := tx.run(fn)
	ended = true
	tx.managed = false
	tx.end()
	tx.reset()
	db.txPool.Put(tx)
	return err
}

// Update runs fn in a write transaction and commits it if fn returns nil;
// otherwise, or if fn met a corrupt page, it rolls back and returns the
// error. It also returns Begin(true)'s errors (ErrDatabaseNotOpen,
// ErrDatabaseReadOnly, ErrSyncFailed) and Commit's. If fn panics or calls runtime.Goexit (t.FailNow), the
// transaction is rolled back and the write lock freed on the way out; a
// nil fn panics too, as calling any nil func does. Update, Batch,
// Begin(true), Checkpoint and Close called inside fn wait forever, as in
// bbolt: they wait for fn's transaction. View may be called (it reads
// the last commit, not fn's changes).
func (db *DB) Update(fn func(*Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	tx.managed = true
	db.enterFn()
	inFn := true
	defer func() {
		// fn panicked or called Goexit: roll back, freeing the write lock.
		if inFn {
			db.leaveFn()
		}
		if tx.db != nil {
			tx.managed = false
			_ = tx.Rollback()
		}
	}()
	err = tx.run(fn)
	inFn = false
	db.leaveFn()
	tx.managed = false
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.commitManaged()
}

// InitialImage is the file of a new, empty database: two meta pages, the
// second (txid 1) current, no tree and no free pages.
func InitialImage(pageSize int) []byte {
	img := make([]byte, 2*pageSize)
	for slot := 0; slot < 2; slot++ {
		m := page.Meta{PageSize: uint32(pageSize), High: 2, TxID: page.TxID(slot)}
		page.EncodeMeta(img[slot*pageSize:(slot+1)*pageSize], page.ID(slot), &m)
	}
	return img
}
