package tx

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"time"

	"github.com/foliodb/folio/freelist"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/wal"
)

// Commit writes the transaction's changes and makes them durable:
//
//  1. Rebalance and spill every changed bucket, children first, into newly
//     allocated pages; each parent records its children's checksums.
//  2. Write the free-extent set (free and pending pages) to new pages.
//  3. Grow the file if the high water mark passed its end (large steps).
//  4. Write the dirty runs in page order, adjacent runs in one
//     Storage.WriteAt (the file writes a long run with pwritev, in calls
//     of up to 256 KiB, a short one a pwrite per page: file_linux.go).
//  5. Sync the written range (msync over the read-write shared mapping).
//  6. Write the meta page into the slot not holding the current meta and
//     sync it (WAL mode: append the pages and meta, or the operations, to
//     the log and sync it; the file gets its meta at checkpoints). On a
//     version 1 file the current meta is first copied, as version 2,
//     into that slot and synced, and the meta goes into the other one
//     (upgradeMeta).
//  7. Publish the new snapshot to readers.
//
// Invariants kept (DESIGN.md): pages are only allocated from released
// extents, never from pages a reader or the fallback meta can reach (1);
// step 5 completes before step 6 starts (2), except in a commit whose
// meta lists every run it wrote (commitOneSync): one sync covers steps 5
// and 6, and Open verifies the list instead; a failure before step 6
// changes nothing a reader or a reopen can see, and the DB's freelist is
// the transaction's clone only after step 6 succeeds (5). A failed sync
// is sticky: the DB then refuses writes (ErrSyncFailed). So is a failed
// meta write whose slot could not be restored (writeMeta), and a
// checkpoint refused over a file cut underneath (checkFileLocked).
//
// Commit returns ErrTxManaged inside a View, Update or Batch function
// (they commit or roll back themselves), ErrTxClosed once the
// transaction ended, and ErrTxNotWritable for a read transaction. Any
// other error ends the transaction, rolled back, and leaves the database
// as it was: the ErrCorrupt error the transaction met (Tx.Err),
// ErrMaxSizeReached, a full disk or a failed write (the system's error:
// errors.Is(err, syscall.ENOSPC)), or a failed sync (ErrSyncFailed: the
// DB then refuses writes until it is reopened).
func (tx *Tx) Commit() (err error) {
	switch {
	case tx.managed:
		return ErrTxManaged
	case tx.db == nil:
		return ErrTxClosed
	case !tx.writable:
		return ErrTxNotWritable
	}
	db := tx.db
	defer func() {
		if err != nil {
			tx.end()
		}
	}()
	if tx.err != nil {
		return tx.err
	}
	start := time.Now()

	// Step 1.
	if err := tx.root.spill(); err != nil {
		return err
	}
	tx.meta.Root, tx.meta.RootSum = tx.root.tree.Root()

	// Step 2. A small commit lists how the free set changed since the
	// last freelist run in its meta page; others write the list whole.
	logged, logical := tx.logMode()
	if delta, ok := tx.freeDelta(logged); ok {
		// The base run stays: this meta names it, with the changes.
		tx.meta.FreeDelta = delta.Encode()
	} else if err := tx.writeFreelist(logged); err != nil {
		return err
	}
	tx.meta.High = tx.high
	// A run freed while spilling may have shown the file damaged (Free).
	if tx.err != nil {
		return tx.err
	}

	// Step 3. A checkpoint (a direct commit in WAL mode) first checks
	// that the file still holds the pages it is to make durable: growing
	// a truncated file would fill the gap with zeros that no later check
	// tells apart from pages, and the log truncation after its meta would
	// drop the only durable copy of the logged commits. Without a log
	// there is nothing left to save, and an fstat a commit measured ~11%
	// of W5's one-put commits (see checkFileLocked).
	if db.wal.log != nil && !logged {
		if err := db.checkFileLocked(tx.r.high); err != nil {
			return err
		}
	}
	if err := db.grow(int64(tx.high) * int64(tx.r.pageSize)); err != nil {
		return err
	}

	// Steps 4 to 6.
	sortDirty(tx.dirty)
	var lsn uint64
	var slot int // the meta slot a direct commit wrote
	switch {
	case tx.replay:
		if err := db.writeRuns(tx.dirty); err != nil {
			return err
		}
	case logged:
		if lsn, err = tx.appendLogged(logical); err != nil {
			return err
		}
	default:
		if slot, err = tx.commitDirect(); err != nil {
			return err
		}
	}

	// Step 7. A logged commit becomes the next writer's base now, and
	// visible to readers only once the log sync covering it returns.
	db.mu.Lock()
	s := &snapshot{meta: tx.meta, view: db.newestView()}
	if len(tx.commitHandlers) > 0 {
		// Values the transaction read point into its view, and its
		// OnCommit handlers may use them: a commit that mapped the file
		// anew (or a later one, in WAL mode) would otherwise unmap it
		// before they run, and they faulted. Kept until they return, and
		// so are the pages of the snapshot it began on: the handlers run
		// without the write lock, and later commits reused the pages (a
		// handler read another commit's data) or cut them from the file
		// (it faulted): TestOnCommitValuesSurviveLaterCommits.
		base := tx.snap
		base.view.refs++
		db.handleLocked(base)
		defer func() {
			db.mu.Lock()
			db.unhandleLocked(base)
			db.releaseViewLocked(base.view)
			db.mu.Unlock()
		}()
	}
	db.freelist = tx.freelist
	if tx.held != nil {
		db.wal.held = tx.held
	}
	s.freePages, s.pendingPages = db.freeCountsLocked()
	db.head = s
	if !logged {
		// The meta slot, and in WAL mode the checkpoint's txid, change
		// with the snapshot they describe, under the same lock: Info
		// reads them together, and never a checkpoint past the
		// published txid, nor the slot of a meta not yet published.
		db.metaSlot = slot
		if db.wal.log != nil {
			db.wal.ckptTxID = tx.meta.TxID
		}
	}
	if !logged || tx.replay {
		db.publishLocked(s)
	}
	db.mu.Unlock()
	if !logged && !tx.replay {
		db.giveBackTail()
	}
	if logged && !tx.replay && db.NoSync {
		// NB: a NoSync commit is published without a sync, and its
		// snapshot holds the logged commits before it: those still
		// waiting for their sync (NoSync was off for them) must have it
		// first, or readers would see them early, and for good if it
		// failed.
		db.wal.inflight.Wait()
		if err := db.syncFailed(); err != nil {
			// Never published: a view it mapped is Close's to unmap,
			// as that of a commit whose own sync failed (syncLogged).
			db.mu.Lock()
			db.wal.unpublished = append(db.wal.unpublished, s.view)
			db.mu.Unlock()
			tx.end()
			return err
		}
	}
	dirty, pages := len(tx.dirty), int(tx.stats.PageCount)
	handlers := tx.commitHandlers
	switch {
	case tx.checkpoint, tx.replay:
		tx.end()
		return nil
	case !logged:
		tx.end()
	case db.checkpointDue():
		// Sync and publish under the write lock, then checkpoint.
		err := db.syncLogged(s, lsn)
		if err == nil {
			if cerr := db.checkpointLocked(); cerr != nil {
				// The commit is durable in the log; a failed checkpoint
				// sync, a fault or a truncated file has already stopped
				// further writes (ErrSyncFailed).
				db.logf("folio: %s: checkpoint after txid %d: %v", db.path, tx.meta.TxID, cerr)
			}
		}
		tx.end()
		if err != nil {
			return err
		}
	default:
		// Group commit: the write lock goes to the next writer before the
		// log sync, so writers that queue meanwhile append their records
		// and share the next sync (SyncTo). Acknowledged only after it.
		db.wal.inflight.Add(1)
		tx.end()
		err := db.syncLogged(s, lsn)
		db.wal.inflight.Done()
		if err != nil {
			return err
		}
	}
	// The transaction's own stats as well (Tx.Stats after Commit, or in
	// an OnCommit handler): only DB.Stats counted the writes, and the
	// transaction said it wrote nothing. NB: after end, but a write Tx
	// is never reused, so no other writer can be using this one.
	elapsed := time.Since(start)
	tx.stats.Write, tx.stats.WriteTime, tx.stats.Commits = int64(dirty), elapsed, 1
	db.stats.commit(dirty, pages, elapsed)
	for _, fn := range handlers {
		fn()
	}
	return nil
}

// commitManaged is Commit for Update and Batch: a memory fault reading
// the mapping while committing (spilling copies committed bytes; the old
// free-list run's header is read) becomes ErrCorrupt, as one in their
// function does (run), instead of killing the process. A fault can only
// come before anything is written, so the transaction is rolled back.
func (tx *Tx) commitManaged() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if tx.db == nil {
				panic(r)
			}
			if err = faultError(tx.db, r, " to commit"); err == nil {
				panic(r)
			}
			tx.end()
		}
	}()
	return tx.Commit()
}

// removeRun takes the pages [id, id+n) out of sorted, merged extents:
// what allocating them did to the free set. A run past every extent
// (taken at the end of the file) changes nothing.
func removeRun(exts []page.Extent, id page.ID, n int) []page.Extent {
	i := sort.Search(len(exts), func(i int) bool { return exts[i].Start+page.ID(exts[i].Len) > id })
	if i == len(exts) || exts[i].Start > id {
		return exts
	}
	e := exts[i]
	end, eend := id+page.ID(n), e.Start+page.ID(e.Len)
	var parts []page.Extent
	if e.Start < id {
		parts = append(parts, page.Extent{Start: e.Start, Len: uint64(id - e.Start)})
	}
	if end < eend {
		parts = append(parts, page.Extent{Start: end, Len: uint64(eend - end)})
	}
	return slices.Replace(exts, i, i+1, parts...)
}

// maxKeptExtents caps the array DB.extents keeps between commits (1 MiB).
const maxKeptExtents = 64 << 10

// freelistSlack bounds how much an allocation can grow the encoded free
// list: one extent's varints change by at most two 10-byte varints.
const freelistSlack = 20

// commitDirect is steps 4 to 6 of the default protocol: write the pages,
// sync them, then write and sync the meta (or, when its runs fit in the
// meta's list outside WAL mode, sync pages and meta at once:
// commitOneSync). In WAL mode it serves commits
// too big for a log record, and is then a checkpoint: the sync covers
// every page written since the last checkpoint, unsynced pages of logged
// commits included. It returns the meta slot it wrote, which becomes
// DB.metaSlot (and the txid DB.wal.ckptTxID) when the commit is
// published (Commit, step 7). NB: nothing between the two may fail: the
// next meta goes into the slot DB.metaSlot does not name.
func (tx *Tx) commitDirect() (slot int, err error) {
	db := tx.db
	// Logged commits still waiting for their sync come first: this meta
	// follows theirs, and the log truncation below must not race them.
	// If one's sync failed, this transaction began on its state: it
	// fails too (TestWALDirectCommitAfterFailedSync).
	db.wal.inflight.Wait()
	if err := db.syncFailed(); err != nil {
		return 0, err
	}
	// NB: in WAL mode this is a checkpoint, which syncs, NoSync or not:
	// the log truncation below may drop records a Sync (or an earlier
	// session) made durable, and the anchor appended after it names its
	// meta, which a later log sync (a synced commit, or wal.Open at the
	// next open) would make durable while the meta was not: every commit
	// lost, or ErrLogMismatch at Open.
	sync := !db.NoSync || db.wal.log != nil
	if !sync {
		// The next synced commit's tree may reach these pages.
		db.unsyncedEnd = max(db.unsyncedEnd, db.fileSize)
	}
	// NB: not with unsynced writes before this commit (unsyncedEnd): a
	// meta listing only its own runs would be adopted by Open without
	// the earlier pages its tree may reach.
	if sync && db.wal.log == nil && db.unsyncedEnd == 0 && tx.oneSyncFits() {
		return tx.commitOneSync()
	}
	if err := db.writeRuns(tx.dirty); err != nil {
		return 0, err
	}
	// NB: in WAL mode a checkpoint syncs even when it wrote nothing (no
	// free list with NoFreelistSync): the file holds the unsynced pages
	// of the logged commits its meta will point to (invariant 2), all in
	// the range writeRuns noted since the last checkpoint. (Syncing the
	// whole file instead cost a WAL-mode sequential load, where every
	// commit is such a checkpoint, 8%: 1.61M against 1.75M keys/s.)
	if sync && (len(tx.dirty) > 0 || db.wal.unsyncedHi > 0 || db.unsyncedEnd > 0) {
		var first, end int64
		if db.wal.log != nil {
			first, end = db.wal.unsyncedLo, db.wal.unsyncedHi
		} else if len(tx.dirty) > 0 {
			first = int64(tx.dirty[0].id) * int64(tx.r.pageSize)
			last := tx.dirty[len(tx.dirty)-1]
			end = int64(last.id)*int64(tx.r.pageSize) + int64(len(last.run))
		}
		if db.unsyncedEnd > 0 {
			first, end = 0, max(end, db.unsyncedEnd)
		}
		if err := db.syncRange(first, end-first); err != nil {
			return 0, err
		}
	}
	if db.wal.log != nil {
		// Again, next to the meta write: the sync cannot tell that the
		// file was cut meanwhile.
		if err := db.checkFileLocked(tx.meta.High); err != nil {
			return 0, err
		}
	}
	if slot, err = db.writeMeta(&tx.meta, sync); err != nil {
		return 0, err
	}
	if sync {
		db.unsyncedEnd = 0
	}
	if db.wal.log != nil {
		db.wal.unsyncedLo, db.wal.unsyncedHi = 0, 0
		db.wal.ckptTime = time.Now()
		db.wal.appended = 0
		db.wal.logical = false
		// NB: Truncate drops only durable records, and with NoSync no
		// commit synced them: the log was never truncated and grew by
		// every record until Close. The meta is durable now, so syncing
		// the log after it is safe (syncAll's order).
		err := error(nil)
		if db.NoSync {
			err = db.wal.log.SyncTo(db.wal.lastLSN)
		}
		if err == nil {
			err = db.wal.log.Truncate(db.wal.lastLSN)
		}
		if err != nil {
			db.logf("folio: %s: truncate the log: %v", db.path, err)
		}
		// The commit is durable: a failed anchor does not fail it. One
		// that found no room waits for the next logged commit, which
		// appends it first or fails alone; any other failure stops
		// later writes (appendAnchor).
		if err := db.appendAnchor(&tx.meta); err != nil {
			db.logf("%v", err)
		}
	}
	return slot, nil
}

// maxOneSyncBytes bounds what a one-sync commit writes: every Open
// checksums the newest commit's runs (VerifyCommit), and a commit of a
// 1 GiB value would make each open read it all. Past a MiB the second
// sync is a small part of the commit anyway.
const maxOneSyncBytes = 1 << 20

// oneSyncFits reports whether the commit may sync once: it wrote runs,
// its meta page can list them all, and they are at most maxOneSyncBytes.
func (tx *Tx) oneSyncFits() bool {
	if len(tx.dirty) == 0 || len(tx.dirty) > page.MaxCommitRunsBeside(tx.r.pageSize, len(tx.meta.FreeDelta)) {
		return false
	}
	n := 0
	for _, r := range tx.dirty {
		if n += len(r.run); n > maxOneSyncBytes {
			return false
		}
	}
	return true
}

// commitOneSync is steps 4 to 6 for a commit whose runs fit in the list
// of its meta page: it writes the runs and the meta listing them, then
// syncs once, where the two-sync protocol syncs the pages before it
// writes the meta. A crash before that sync can leave the meta on disk
// without some of its pages; Open checks the listed runs against their
// checksums (page.VerifyCommit) and uses the other meta if one is not
// whole. That meta's pages are intact: this commit wrote only pages free
// in its state (copy-on-write). One sync instead of two: a one-put
// commit's p50 went from ~0.46 to ~0.3 ms here (README, "Small commits
// sync once").
func (tx *Tx) commitOneSync() (slot int, err error) {
	db := tx.db
	if err := db.writeRuns(tx.dirty); err != nil {
		return 0, err
	}
	runs := db.commitRuns[:0]
	for _, r := range tx.dirty {
		runs = append(runs, page.CommitRun{ID: r.id, Pages: uint32(len(r.run) / tx.r.pageSize), Sum: page.PageChecksum(r.run)})
	}
	db.commitRuns = runs
	if slot, err = db.writeMetaCommit(&tx.meta, runs, false); err != nil {
		return 0, err
	}
	// tx.dirty is sorted: the range from the meta slots to the last run
	// holds every page this commit wrote.
	last := tx.dirty[len(tx.dirty)-1]
	if err := db.syncRange(0, int64(last.id)*int64(tx.r.pageSize)+int64(len(last.run))); err != nil {
		// The meta is in the page cache, and a reopen would adopt it
		// although the failed sync may have lost its pages.
		_ = db.restoreMeta(slot, true)
		return 0, err
	}
	return slot, nil
}

// appendLogged is steps 4 and 5 in WAL mode: the pages go to the file
// unsynced (readers see them through the map once the commit is
// published), then one record with the pages and the meta goes to the
// log. The pages are written first so that a failed write leaves nothing
// in the log: a record in the log is a commit that recovery will replay.
// syncLogged is step 6.
func (tx *Tx) appendLogged(logical bool) (uint64, error) {
	db := tx.db
	// An anchor that found no room after the last checkpoint goes first
	// (walanchor.go); still no room fails this commit alone.
	if err := db.appendUnanchored(); err != nil {
		return 0, err
	}
	if err := db.upgradeBeforeLog(); err != nil {
		return 0, err
	}
	if err := db.writeRuns(tx.dirty); err != nil {
		return 0, err
	}
	w := &db.wal
	parts, n := w.recParts[:0], 0
	if logical {
		parts, n = tx.opsParts(parts), tx.opsLen()
	} else {
		var head []byte
		head, parts, n = recordParts(w.recHead, parts, &tx.meta, tx.r.pageSize, tx.dirty)
		if cap(head) <= maxKeptRecordBuf {
			w.recHead = head
		}
	}
	lsn, err := w.appendRecord(parts, n)
	if errors.Is(err, wal.ErrNotAppended) {
		// Nothing reached the log (no room for a new segment): the
		// commit fails alone, as after a failed page write above.
		return 0, fmt.Errorf("folio: commit %s: append to the log: %w", db.path, err)
	}
	if err != nil {
		// The log may hold part of a record now: stop writing until a
		// reopen recovers what is really there.
		db.refuseWrites(err)
		return 0, fmt.Errorf("folio: commit %s: append to the log: %w (%w)", db.path, err, ErrSyncFailed)
	}
	db.wal.lastLSN = lsn
	db.wal.appended += int64(n)
	if logical {
		db.wal.logical = true
	}
	return lsn, nil
}

// logMode decides how the transaction commits: logged (WAL mode) or
// directly, and if logged, as page images or as its operations.
//
// By default the operations are logged when they take a quarter of the
// images or less: a small transaction (one put: ~150 bytes against 16 KiB
// of pages; measured W5 +5%, W6 +15% over images) or a random load (every
// key rewrites a 4 KiB leaf). Otherwise images are logged up to 1 MiB
// (replay only copies them), and a bigger transaction commits directly: a
// sequential load fills fresh pages, and logging it would write the data
// twice for nothing (measured 1.9x bbolt logged, 3.4x direct). A positive
// WALImageLimit prefers images up to that size, a negative one logs
// operations always. Once an operations record is in the log, a commit
// that would log images logs operations instead until the next
// checkpoint (walops.go); one that would commit directly still does, as
// that is a checkpoint. (Logging operations for every commit after one,
// a sequential load behind the small commit that created its bucket
// logged half its data twice: 1.6M keys/s against 2.6M direct.) Past
// maxOpsBytes the commit is direct. A replayed transaction counts as
// logged: its pages are not synced and its meta is not written until
// the checkpoint that ends the replay.
func (tx *Tx) logMode() (logged, logical bool) {
	db := tx.db
	switch {
	case db.wal.log == nil || tx.checkpoint:
		return false, false
	case tx.replay:
		return true, false
	case !tx.logging || tx.opsLen() > maxOpsBytes:
		return false, false
	case db.WALImageLimit < 0:
		return true, true
	}
	size := tx.recordSize()
	switch {
	case db.WALImageLimit > 0 && size <= min(db.WALImageLimit, maxReplayBytes) && !db.wal.logical:
		// NB: never past maxReplayBytes, which replay's decoder refuses:
		// an acknowledged commit would make the next Open ErrCorrupt.
		return true, false
	case tx.opsLen() <= size/4:
		return true, true
	case size <= maxRecordBytes:
		return true, db.wal.logical
	}
	return false, false
}

// syncLogged syncs the log through lsn, then publishes s unless a later
// commit was published first (its sync covered this one too). It needs
// no write lock: concurrent callers share syncs (Log.SyncTo). A failed
// sync fails this and every later commit (the log's error is sticky), so
// a snapshot built on a lost record is never published.
//
// A snapshot never published releases no view, so a view this commit
// mapped (grow) and no published snapshot took up is unmapped here when
// a later commit's view replaced it, or by Close after a failed sync (a
// writer begun on s may still read it then).
func (db *DB) syncLogged(s *snapshot, lsn uint64) error {
	if !db.NoSync {
		if err := db.wal.log.SyncTo(lsn); err != nil {
			db.refuseWrites(err)
			db.mu.Lock()
			db.wal.unpublished = append(db.wal.unpublished, s.view)
			db.mu.Unlock()
			return fmt.Errorf("folio: commit %s: sync the log: %w (%w)", db.path, err, ErrSyncFailed)
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := db.current.Load()
	switch {
	case cur == nil:
	case cur.meta.TxID < s.meta.TxID:
		db.publishLocked(s)
	default:
		// INVARIANT: views only get newer along commits, so the
		// published one (refs > 0) is newer than s's, or is s's, and so
		// are those of head and of the writer begun on it: nothing else
		// reads s's.
		if page.Invariants && s.view != nil && s.view.refs == 0 &&
			((db.head != nil && db.head.view == s.view) || db.pendingView == s.view) {
			panic("folio/tx: a logged commit's view, unused once a newer commit was published, is still the next writer's")
		}
		unmapUnusedLocked(s.view)
	}
	return nil
}

// recordSize is the size of this transaction's page-image record.
func (tx *Tx) recordSize() int {
	n := recordHeader + tx.r.pageSize
	for _, r := range tx.dirty {
		n += runHeader + len(r.run)
	}
	return n
}

// freelistPagesCount is the length of the committed freelist run: as the
// commit that wrote it noted it, or else as its header gives it. Reading
// the header touched the run's page through the map at every commit, a
// page the previous commit had just written somewhere new: a page fault
// (12-14 µs on a fresh process here) that also maps its neighbours.
func (tx *Tx) freelistPagesCount() int {
	if fr := tx.db.freelistRun; fr.id == tx.meta.Freelist && fr.id != 0 {
		return fr.pages
	}
	return freelistRunPages(tx.r.data, tx.r.pageSize, tx.meta)
}

// writeFreelist is step 2 for a commit that writes its free list whole
// (or none). The old freelist run becomes pending first, so its pages are
// persisted as free. A logged commit (WAL mode) leaves the free list out:
// between checkpoints pending pages pile up and the list would fill most
// of each record; a checkpoint writes it, and a replay after a crash
// rebuilds it from the tree.
func (tx *Tx) writeFreelist(logged bool) error {
	db := tx.db
	if tx.meta.Freelist != 0 {
		// A count of 0: the meta's run is pages of the tree (loadFreelist).
		if n := tx.freelistPagesCount(); n > 0 {
			tx.pages().Free(tx.meta.Freelist, n)
		}
	}
	if !logged && tx.held != nil {
		// A direct commit in WAL mode is a checkpoint: once its meta is
		// durable, nothing recovery starts from reaches the held runs.
		// They become pending under the txids that freed them.
		tx.held.PendInto(tx.freelist)
		tx.held = freelist.New()
	}
	tx.meta.Freelist, tx.meta.FreelistSum, tx.meta.FreeDelta = 0, 0, ""
	if !db.NoFreelistSync && !logged && !tx.noFreelist {
		// Allocating the run changes one extent at most (it shrinks or
		// goes, its gap merging into the next): a few bytes of slack
		// cover that, so the size is known before the pages are, and
		// the extents are gathered once and adjusted for the run.
		exts := tx.freelist.AppendExtents(db.extents)
		size := page.FreelistSize(exts) + freelistSlack
		n := page.RunPages(size, tx.r.pageSize)
		id, err := tx.pages().Allocate(n)
		if err != nil {
			return err
		}
		exts = removeRun(exts, id, n)
		if got := page.FreelistSize(exts); page.HeaderSize+got > n*tx.r.pageSize {
			panic(fmt.Sprintf("folio: bug: free list grew from %d to %d bytes while its run was allocated", size-freelistSlack, got))
		}
		run := tx.pages().Buffer(n)
		page.PutHeader(run, id, tx.r.txid, page.FlagFreelist, 0, uint32(n-1))
		page.EncodeFreelist(run[page.HeaderSize:], exts)
		tx.meta.Freelist, tx.meta.FreelistSum = id, page.Seal(run)
		tx.pages().Write(id, run)
		db.freelistRun = freelistRun{id, n, tx.high}
		if cap(exts) <= maxKeptExtents {
			db.extents = exts[:0]
		} else {
			db.extents = nil // a rare, very fragmented file: do not keep megabytes
		}
		if db.wal.log == nil {
			// Later commits may keep this run and list changes instead.
			tx.freelist.TrackDelta(page.FreeDelta{}, page.MaxFreeDelta(tx.r.pageSize))
		}
	}
	return nil
}

// freelistRun is a freelist run a commit wrote: its first page and length.
// NB: keyed by id, it is right for any meta naming that id even if the
// commit that wrote it failed: a later run at the same id overwrites it.
type freelistRun struct {
	id    page.ID
	pages int
	high  page.ID // its extents lie below: what it decodes against
}

// freeDelta returns the free list delta this commit's meta may list
// instead of a new freelist run (page.FreeDelta), if it may. Only a
// direct commit outside WAL mode keeps a base (a checkpoint writes its
// list whole), and only the run the commit that wrote it noted: its
// length is known, and it is whole. Its extents lie below its own high
// water mark, which must not be above this commit's: a meta decodes its
// run against its own mark. The delta must fit in half the meta page.
// A run that ends the file with free pages just before it goes too: kept,
// it would hold the file's free tail in (TrimTail gives back only a free
// extent that ends the file).
func (tx *Tx) freeDelta(logged bool) (page.FreeDelta, bool) {
	db := tx.db
	fr := db.freelistRun
	if logged || db.wal.log != nil || db.NoFreelistSync || tx.noFreelist || tx.replay ||
		tx.meta.Freelist == 0 || fr.id != tx.meta.Freelist || fr.pages == 0 || fr.high > tx.high ||
		(fr.id+page.ID(fr.pages) == tx.high && tx.freelist.LastFreeEnd() == fr.id) {
		return page.FreeDelta{}, false
	}
	return tx.freelist.Delta(page.MaxFreeDelta(tx.r.pageSize))
}

// freelistRunPages is the length of m's freelist run as its header gives
// it, or 1 if the header is unreadable: the same count open keeps out of
// the free set when it rebuilds a damaged list, so the run is freed once.
func freelistRunPages(data []byte, ps int, m page.Meta) int {
	if m.Freelist == 0 {
		return 0
	}
	if p := data[int(m.Freelist)*ps:]; page.PageID(p) == m.Freelist {
		// NB: bounded before the int conversion, which makes an overflow
		// of 2^31 or more negative on 32-bit platforms.
		return int(min(uint64(page.PageOverflow(p))+1, uint64(m.High-m.Freelist)))
	}
	return 1
}

// grow extends the file to hold size bytes, in steps so that a commit
// rarely changes the file's length, and maps it if the newest view
// is too short. Readers keep their views (invariant 4).
func (db *DB) grow(size int64) error {
	if size <= db.fileSize {
		// NB: the file may be long enough and the newest view not: an
		// earlier commit grew the file, then failed to map it.
		return db.growView(db.fileSize)
	}
	target := size
	// Double a small file (a tiny database stays tiny), then grow by
	// AllocSize steps: few size changes, little space past the data.
	if t := db.fileSize + db.growStep(db.fileSize); t > target {
		target = t
	}
	ps := int64(db.pageSize)
	target = (target + ps - 1) / ps * ps
	if max := int64(db.opts.MaxSize); max > 0 && target > max {
		if size > max {
			return fmt.Errorf("%w: %s: need %d bytes, MaxSize is %d", ErrMaxSizeReached, db.path, size, max)
		}
		target = max / ps * ps
	}
	sync := !db.NoGrowSync && !db.NoSync
	err := db.st.Grow(target, sync)
	if err != nil && noSpace(err) && !errors.Is(err, ErrSyncFailed) && size < target {
		// The step is room ahead of the data; on a nearly full disk, or
		// near the process's file size limit, the commit itself may still
		// fit. Measured without this, on a 4 MiB tmpfs: a 2.7 MiB file
		// asked for 5.4 MiB for a 300 KB value, and every commit failed,
		// also after 1 MiB was freed. (A failed growth is given back:
		// fileStorage.allocate.)
		target, err = size, db.st.Grow(size, sync)
	}
	if err != nil {
		if errors.Is(err, ErrSyncFailed) {
			// The sync covered the file's unsynced pages too (WAL mode):
			// as after any failed sync, a retry could report success for
			// pages the kernel dropped.
			db.refuseWrites(err)
		}
		return fmt.Errorf("folio: grow %s to %d bytes: %w", db.path, target, err)
	}
	db.fileSize = target
	return db.growView(target)
}

// growView maps the file anew for the next snapshot if the newest view is
// shorter than size bytes.
func (db *DB) growView(size int64) error {
	if size <= db.viewSize {
		return nil
	}
	v, err := db.mapLocked(size)
	if err != nil {
		return err
	}
	db.mu.Lock()
	old := db.pendingView
	db.pendingView = v
	db.mu.Unlock()
	if old != nil {
		// Mapped by an earlier commit that failed: no snapshot has it.
		_ = old.v.Close()
	}
	return nil
}

// newestView returns the view the next snapshot uses. REQUIRES: db.mu.
func (db *DB) newestView() *view {
	if v := db.pendingView; v != nil {
		db.pendingView = nil
		return v
	}
	return db.head.view
}

// writeRuns writes sorted dirty runs, joining adjacent ones into one call.
func (db *DB) writeRuns(runs []dirtyRun) error {
	ps := int64(db.pageSize)
	var bufs [][]byte
	var off, next int64
	flush := func() error {
		if len(bufs) == 0 {
			return nil
		}
		if err := db.st.WriteAt(bufs, off); err != nil {
			return fmt.Errorf("folio: commit %s: write at %d: %w", db.path, off, err)
		}
		bufs = bufs[:0]
		return nil
	}
	if db.wal.log != nil && len(runs) > 0 {
		lo, hi := int64(runs[0].id)*ps, int64(0)
		for _, r := range runs { // replayed records' runs are not sorted
			at := int64(r.id) * ps
			lo, hi = min(lo, at), max(hi, at+int64(len(r.run)))
		}
		if db.wal.unsyncedHi == 0 {
			db.wal.unsyncedLo, db.wal.unsyncedHi = lo, hi
		} else {
			db.wal.unsyncedLo, db.wal.unsyncedHi = min(db.wal.unsyncedLo, lo), max(db.wal.unsyncedHi, hi)
		}
	}
	for _, r := range runs {
		at := int64(r.id) * ps
		if len(bufs) > 0 && at != next {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(bufs) == 0 {
			off = at
		}
		bufs = append(bufs, r.run)
		next = at + int64(len(r.run))
	}
	return flush()
}

// syncRange syncs a range; a failure is remembered and fails every later
// write transaction, since the kernel may have dropped the dirty pages
// and a second sync could then report success for data that is gone.
func (db *DB) syncRange(off, n int64) error {
	if err := db.st.SyncRange(off, n); err != nil {
		db.refuseWrites(err)
		return fmt.Errorf("folio: commit %s: sync: %w (%w)", db.path, err, ErrSyncFailed)
	}
	return nil
}

func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }
