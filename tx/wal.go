package tx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/foliodb/folio/freelist"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/wal"
)

// Log is the write-ahead log as a DB uses it; package wal's *Log is one.
// Records are opaque to it: this package encodes them (walrecord.go).
type Log interface {
	// Append adds a record, not yet durable, and returns its LSN.
	Append(payload []byte) (lsn uint64, err error)
	// SyncTo makes the records up to lsn durable.
	SyncTo(lsn uint64) error
	// Replay calls fn for each record from LSN from on, in order.
	Replay(from uint64, fn func(lsn uint64, payload []byte) error) error
	// Truncate drops the records up to upTo (after a checkpoint).
	Truncate(upTo uint64) error
	// Size is the log's live bytes.
	Size() int64
	// LastLSN is the LSN of the last record appended.
	LastLSN() uint64
	// Close releases the log.
	Close() error
}

// Defaults for WAL mode.
const (
	DefaultCheckpointBytes    = 64 << 20
	DefaultCheckpointInterval = 30 * time.Second
	// maxRecordBytes bounds a page-image record; a bigger transaction
	// logs its operations instead (walops.go). Measured: a 4 MiB image
	// record (W2: 1,000 random keys) made a commit ~20 ms slower than
	// committing directly; 200-800 KiB records were even.
	maxRecordBytes = 1 << 20
)

// Bounds on the buffers walState keeps for the next record. A logical
// record holds no value of opsRefMin bytes or more (it refers to them),
// so only a transaction of many small ones (a bulk load) fills its
// operations buffer, which the next load reuses up to 16 MiB, as before.
const (
	maxKeptRecordBuf = 1 << 20
	maxKeptParts     = 1 << 14
	maxKeptOpsBuf    = 16 << 20
)

// partsLog is a Log that appends a record from parts without joining
// them (package wal's): a commit of a large value then costs no copy of
// it for the log. Another Log gets the parts joined.
type partsLog interface {
	AppendParts(parts ...[]byte) (lsn uint64, err error)
}

// appendRecord appends the record made of parts, n bytes in all, and
// forgets them: they refer to the transaction's pages and values.
func (w *walState) appendRecord(parts [][]byte, n int) (uint64, error) {
	defer func() {
		clear(parts)
		if cap(parts) <= maxKeptParts {
			w.recParts = parts[:0]
		}
	}()
	if l, ok := w.log.(partsLog); ok {
		return l.AppendParts(parts...)
	}
	rec := w.joinBuf[:0]
	if cap(rec) < n {
		rec = make([]byte, 0, n)
	}
	for _, p := range parts {
		rec = append(rec, p...)
	}
	if cap(rec) <= maxKeptRecordBuf {
		w.joinBuf = rec[:0]
	}
	return w.log.Append(rec)
}

// ErrLogPending is returned by a read-only open of a database whose log
// holds commits not yet checkpointed into the file: only a read-write
// open can replay them, and a reader must not see an older state.
var ErrLogPending = errors.New("folio: the write-ahead log holds commits not yet in the file; open the database read-write once to recover them")

// walState is the DB's write-ahead-log state, touched under the write lock.
type walState struct {
	log     Log
	lastLSN uint64 // LSN of the last record appended
	// ckptTxID is the txid of the meta last written durably to the file.
	// A commit sets it under mu as it publishes that meta (Commit, step
	// 7), so that Info reads it with the snapshot: never past the
	// published txid.
	ckptTxID  page.TxID
	ckptTime  time.Time
	ckptBytes int64 // record bytes appended since a checkpoint that trigger one
	appended  int64 // record bytes appended since the last checkpoint
	ckptEvery time.Duration
	// The buffers of the last record, for the next: a page-image
	// record's headers (recordParts), the parts of any record, a record
	// joined for a Log that takes one slice, and a logical record's
	// operations (held by a writer meanwhile). Each is kept only up to a
	// bound (maxKeptRecordBuf, maxKeptParts, maxKeptOpsBuf): a single
	// large commit does not pin its buffers for the life of the DB.
	recHead  []byte
	recParts [][]byte
	joinBuf  []byte
	opsBuf   []byte
	// logical is set once a logical record has been logged since the
	// last checkpoint: every record until the next one is logical then
	// (walops.go).
	logical bool
	// opsFrom is the LSN of the first logical record that open found
	// past the checkpoint (opsPending): replayOps runs them.
	opsFrom    uint64
	opsPending bool
	// anchor is the last anchor record replayLog read (walanchor.go).
	anchor logAnchor
	// unanchored is the meta whose anchor record found no room in the
	// log (appendAnchor); nil once the log holds one naming the file's
	// meta. The next logged commit appends it first (appendUnanchored).
	unanchored *page.Meta
	// held is the runs freed since the last checkpoint that its meta may
	// reach: recovery starts from that meta, so they must keep their
	// contents until the next checkpoint, which moves them to the free
	// list's pending set. Runs written after the checkpoint are freed as
	// usual and reused once no reader needs them (Tx.Free).
	held *freelist.List
	// inflight counts logged commits that released the write lock and
	// wait for their log sync; a checkpoint waits for them (Commit).
	inflight sync.WaitGroup
	// unpublished holds the views of logged commits whose sync failed:
	// no snapshot releases them, Close unmaps them (syncLogged). Under
	// DB.mu.
	unpublished []*view
	// replayed and replayedTxID say what the open replayed: how many
	// logged commits, and the txid of the last (Info).
	replayed     int
	replayedTxID page.TxID
	// replayTxs counts the transactions replayOps committed (tests).
	replayTxs int
	// unsynced is the byte range [lo, hi) of the file that holds every
	// page written since the last checkpoint (hi 0: none): what the next
	// checkpoint must sync. Touched under the write lock.
	unsyncedLo, unsyncedHi int64
}

// replayLog brings the file up to the last whole record of the log: every
// record after the meta m is written to the file, then synced, and the new
// meta written (a checkpoint). It returns the meta to open with.
// A record whose txid does not follow its predecessor is corruption.
func (db *DB) replayLog(s *snapshot) (page.Meta, error) {
	m := s.meta
	ps := int(m.PageSize)
	cur := m
	replayed := 0
	var anchor, prev logAnchor // prev: the state of the record before (imageState)
	apply := func(lsn uint64, payload []byte) error {
		if recordVersionOf(payload) == recordVersionAnchor {
			a, err := decodeAnchor(payload, ps)
			if err != nil {
				return fmt.Errorf("%w: record %d: %w", ErrLogCorrupt, lsn, unprefixed(err))
			}
			db.wal.lastLSN = lsn
			anchor, anchor.lsn = a, lsn
			prev = logAnchor{} // the anchor names the state from here on
			return nil
		}
		if recordVersionOf(payload) == recordVersionOps {
			// Logical records run once the database is open (replayOps);
			// no page image may follow the first one past the file.
			txid, _, err := decodeOps(payload, ps)
			if err != nil {
				return fmt.Errorf("%w: record %d: %w", ErrLogCorrupt, lsn, unprefixed(err))
			}
			db.wal.lastLSN = lsn
			if txid <= cur.TxID {
				prev = logAnchor{}
				return nil
			}
			if txid != cur.TxID+1 {
				return fmt.Errorf("%w: log record %d holds txid %d, expected %d", ErrLogCorrupt, lsn, txid, cur.TxID+1)
			}
			if replayed == 0 {
				if err := anchor.follows(prev, m, lsn); err != nil {
					return err
				}
			}
			if db.readOnly {
				return ErrLogPending
			}
			db.wal.opsFrom, db.wal.opsPending = lsn, true
			return errStopImages
		}
		rec, err := decodeRecord(payload, ps)
		if err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrLogCorrupt, lsn, unprefixed(err))
		}
		db.wal.lastLSN = lsn
		if rec.meta.TxID <= cur.TxID {
			prev = imageState(rec.meta, lsn)
			return nil // already in the file
		}
		if rec.meta.TxID != cur.TxID+1 {
			return fmt.Errorf("%w: log record %d holds txid %d, expected %d", ErrLogCorrupt, lsn, rec.meta.TxID, cur.TxID+1)
		}
		if replayed == 0 {
			// NB: no prev: a page image past the file's meta never
			// follows a stopped recovery (imageState).
			if err := anchor.follows(logAnchor{}, m, lsn); err != nil {
				return err
			}
		}
		if err := rec.grows(cur.High, ps); err != nil {
			return fmt.Errorf("%w: log record %d (txid %d): %w", ErrLogCorrupt, lsn, rec.meta.TxID, unprefixed(err))
		}
		if db.readOnly {
			return ErrLogPending
		}
		if need := int64(rec.meta.High) * int64(ps); need > db.st.Size() {
			if err := db.st.Grow(need, false); err != nil {
				return err
			}
		}
		if err := db.writeRuns(rec.runs); err != nil {
			return err
		}
		cur = rec.meta
		replayed++
		return nil
	}
	// Nothing is written unless the whole log follows the file.
	from, hole := db.logHole()
	err := db.checkSequence(m)
	if err == nil {
		err = db.wal.log.Replay(from, apply)
	}
	if errors.Is(err, errStopImages) {
		err = nil
	}
	if errors.Is(err, ErrLogMismatch) {
		return page.Meta{}, fmt.Errorf("folio: open %s: %w (was the file replaced or restored beside its old log? "+
			"move the log directory aside to open the file as it is)", db.path, unprefixed(err))
	}
	if err != nil {
		err = asCorrupt(err)
		return page.Meta{}, fmt.Errorf("folio: open %s: replaying the log: %w", db.path, unprefixed(err))
	}
	db.wal.anchor = anchor
	db.wal.ckptTxID = cur.TxID
	if hole != nil {
		db.logf("folio: %s: the write-ahead log has damaged records the file holds since a checkpoint; "+
			"passed over (later checkpoints drop them, folio check reports them): %v", db.path, hole)
	}
	if replayed == 0 {
		// NB: a log of commits the file holds already is kept until the
		// next checkpoint. Truncated here after a sync of the file, it
		// lost them when an earlier checkpoint's meta sync had failed:
		// the page cache still held that meta, clean, so this sync had
		// nothing to write, and a power cut left the older meta with no
		// log (TestStaleDropAfterFailedMetaSync).
		return cur, nil
	}
	// The meta is written for good below, and once written one whose root
	// does not check fails every later open (chooseMeta): check it first.
	if err := db.checkReplayed(cur, s); err != nil {
		return page.Meta{}, fmt.Errorf("folio: open %s: replaying the log: the meta of the last record (txid %d): %w",
			db.path, cur.TxID, unprefixed(err))
	}
	db.wal.replayed, db.wal.replayedTxID = replayed, cur.TxID
	db.fileSize = db.st.Size()
	if err := db.st.SyncRange(0, int64(cur.High)*int64(ps)); err != nil {
		return page.Meta{}, fmt.Errorf("folio: open %s: sync after replay: %w", db.path, err)
	}
	slot, err := db.writeMeta(&cur, true)
	if err != nil {
		return page.Meta{}, err
	}
	db.metaSlot = slot // nothing is published yet: no Info reads it
	db.logf("folio: %s: replayed %d transactions from the log, now at txid %d", db.path, replayed, cur.TxID)
	if db.wal.opsPending {
		return cur, nil // replayOps truncates the log once it is done
	}
	// NB: a failure is logged, as a checkpoint's is (commitDirect): the
	// replayed commits are in the file under a durable meta, and the
	// records kept are ones it holds, which the next checkpoint drops.
	// Returned, it failed the Open with the log's bare error.
	if err := db.wal.log.Truncate(db.wal.lastLSN); err != nil {
		db.logf("folio: %s: truncate the log after the replay: %v", db.path, err)
	}
	return cur, nil
}

// checkSequence reads the txids and anchors of the log before replay
// writes anything, so that a log that does not follow the file's meta m
// is refused with the file untouched: its first commit past the file
// must follow an anchor naming m (if any), and its txids must not skip.
// Only headers are looked at (what does not decode is for the replay to
// report), but it reads the log a second time: ~1 s more per GiB of
// compressed page images, a few ms for a log of the default size.
//
// A skip is how a backup restored beside the log of its database shows:
// the log holds commits from before the backup, then, past a checkpoint
// the backup never saw, commits that follow a later state.
//
// A log Open passed over damage in (logHole) is read from past it, and
// followed only if, before any record past the file, an anchor or a
// page image there names the file's state: the lost records are then
// older, and the file holds them. So they are if no record past the
// hole is past the file and one is not newer than it (a commit, or an
// anchor, whose txid is at most the file's): the log holds commits in
// txid order, and an anchor follows only commits up to its txid.
// Otherwise the damage is the error. NB: without the second rule, an
// open that replayed logged operations after a hole, checkpointed them
// and crashed before the anchor it then appended was durable, left a
// file the next open refused (TestHoleCrashAfterReplay).
func (db *DB) checkSequence(m page.Meta) error {
	ps := int(m.PageSize)
	cur, applied := m.TxID, 0
	var anchor, prev logAnchor
	// unanchored is the first record past the file when no anchor came
	// before it, later the first anchor after it (see below).
	var unanchored uint64
	var later logAnchor
	from, hole := db.logHole()
	covered := hole == nil // the file's state named past the hole
	older := false         // a record past the hole not newer than the file
	err := db.wal.log.Replay(from, func(lsn uint64, payload []byte) error {
		v := recordVersionOf(payload)
		switch {
		case v == recordVersionAnchor:
			if a, err := decodeAnchor(payload, ps); err == nil {
				anchor, anchor.lsn = a, lsn
				prev = logAnchor{}
				if applied == 0 && a.names(m) {
					covered = true
				}
				older = older || applied == 0 && a.txid <= m.TxID
				if unanchored != 0 && !later.ok {
					later = anchor
				}
			}
			return nil
		case v != recordVersion && v != recordVersion1 && v != recordVersionOps || len(payload) < 16:
			return nil
		}
		txid := page.TxID(binary.LittleEndian.Uint64(payload[8:]))
		switch {
		case txid <= cur:
			prev = logAnchor{}
			older = older || applied == 0
			if v != recordVersionOps && txid == m.TxID {
				// Only the meta of the record with the file's txid can
				// name it; the others' are not decoded.
				if rm, _, err := decodeRecordMeta(payload, ps); err == nil {
					prev = imageState(rm, lsn)
					covered = covered || prev.names(m)
				}
			}
			return nil
		case applied == 0 && !covered:
			// The first record past the file, with its state not named
			// since the hole: the lost records may be ones it lacks.
			return hole
		case txid == cur+1:
			if applied == 0 {
				p := prev
				if v != recordVersionOps {
					p = logAnchor{} // as replayLog: only before operations
				}
				if err := anchor.follows(p, m, lsn); err != nil {
					return err
				}
				if !anchor.ok && !p.names(m) {
					unanchored = lsn
				}
			}
			cur, applied = txid, applied+1
			return nil
		}
		return db.txidGap(lsn, txid, cur, m.TxID, applied, anchor)
	})
	if err == nil && !covered && !older {
		// NB: !covered at the end means nothing past the file was read.
		return hole
	}
	if err == nil && later.ok {
		// The log has anchors, so it is not one from before them: the
		// anchor that named the file's state once stood before this
		// record, and a checkpoint past it truncated it away (package
		// wal drops whole segments). The file is older than that
		// checkpoint: a backup restored beside the log of later commits,
		// which replay would roll forward.
		return fmt.Errorf("%w: log record %d, the first past the file's txid %d, follows no anchor, and anchor record %d names txid %d: "+
			"the log's head was truncated by a checkpoint the file does not hold", ErrLogMismatch, unanchored, m.TxID, later.lsn, later.txid)
	}
	return err
}

// txidGap is the error for log record lsn holding txid where have+1 was
// expected, a the last anchor before it; the file holds txid file.
func (db *DB) txidGap(lsn uint64, txid, have, file page.TxID, applied int, a logAnchor) error {
	switch {
	case db.olderMeta:
		// The file lost its newer meta; the log is not to blame.
		return fmt.Errorf("%w: log record %d holds txid %d, expected %d (%s)", ErrCorrupt, lsn, txid, have+1, db.fallback)
	case a.ok && a.txid > have:
		return fmt.Errorf("%w: the file holds txid %d, older than the log: its anchor (record %d) says the file was checkpointed at txid %d, "+
			"and log record %d holds txid %d", ErrLogMismatch, file, a.lsn, a.txid, lsn, txid)
	case !a.ok && applied == 0:
		return fmt.Errorf("%w: the file holds txid %d, and the first commit the log holds past it is txid %d (log record %d)",
			ErrLogMismatch, have, txid, lsn)
	}
	return fmt.Errorf("%w: log record %d holds txid %d, expected %d", ErrLogCorrupt, lsn, txid, have+1)
}

// checkReplayed checks, as open checks the file's meta, the meta that
// replaying page images left: its pages are in the file, and its root's.
// It reads them through s's view, Open's, which it maps anew (replacing
// s.view) if the replay grew the file past it.
//
// NB: a mapping of its own, as the check had, mapped the file a second
// time (a third when Open then remapped a grown file), and with
// Options.MmapFlags' MAP_POPULATE read all of it in again: an Open of a
// 100 MiB file replaying two commits took 3,445 page faults, now 1,857,
// and 173 ms, now 166 (medians of 5 interleaved runs; the replay's syncs
// take most of it: BenchmarkOpenPopulate/wal-replay, root package).
func (db *DB) checkReplayed(m page.Meta, s *snapshot) error {
	need := int64(m.High) * int64(m.PageSize)
	if need > db.viewSize {
		v, err := db.mapLocked(max(need, db.st.Size()))
		if err != nil {
			return err
		}
		_ = s.view.v.Close()
		s.view = v
	}
	return db.checkMeta(s.view.bytes[:need], m)
}

// errStopImages ends replayLog's pass at the first logical record.
var errStopImages = errors.New("folio: logical records follow")

// replayOpsBytes is how much logical record one replay transaction takes
// before it commits (to the file, unsynced: its dirty pages stay in
// memory until then). A random load rewrites most leaves in each, so
// fewer is faster: 256 MiB of log (2.1M random puts) replayed in 31 s
// cold with 16 MiB, 13 s with 64 MiB, which is also the default
// CheckpointBytes: a log of the default size replays in one.
var replayOpsBytes = 64 << 20 // a var for tests (export_test.go)

// replayPagesBytes also ends a replay transaction: once the pages it has
// read to change reach it. Each holds its elements, then its new image,
// until the commit, so this bounds replay's memory on a big file, where
// 64 MiB of random puts (~500k) would touch as many leaves. Measured
// (256 MiB of random puts on a 450 MiB file, TestWALRecovery1GiB): the Go
// heap peaked 0.8 GiB above its size before Open, against 1 GiB without
// the cap, and replay took 17-23 s against 15-18 s (noisy runs).
var replayPagesBytes = 256 << 20 // a var for tests

// replayOps runs the logical records after the page images replayLog
// applied, in transactions of their own that write their pages unsynced
// and no meta, then checkpoints: the file then holds every commit of the
// log, durably, and the log is truncated. A crash midway leaves the
// checkpoint's meta in the file and its pages untouched (replayed
// transactions free pages as logged commits do), so the next open
// replays the same records again. An operation that fails, or a page
// image after a logical record, means the log does not belong to this
// file: ErrCorrupt.
func (db *DB) replayOps() error {
	db.writer.Lock()
	defer db.writer.Unlock()
	ps := db.pageSize
	cur := db.head.meta.TxID
	var tx *Tx
	batched, replayed := 0, 0
	commit := func() error {
		t := tx
		tx = nil
		batched = 0
		t.meta.TxID = cur // the last record's: the next commit follows it
		db.wal.replayTxs++
		return t.Commit()
	}
	var op walOp
	err := db.wal.log.Replay(db.wal.opsFrom, func(lsn uint64, payload []byte) error {
		db.wal.lastLSN = lsn
		if recordVersionOf(payload) == recordVersionAnchor {
			// Past the first logical record, an anchor names a state
			// the file's meta does not show (a fallback to the older
			// meta): replay goes on by txids, from the state it rebuilt.
			if _, err := decodeAnchor(payload, ps); err != nil {
				return fmt.Errorf("%w: record %d: %w", ErrLogCorrupt, lsn, unprefixed(err))
			}
			return nil
		}
		if recordVersionOf(payload) != recordVersionOps {
			rec, err := decodeRecord(payload, ps)
			if err == nil && rec.meta.TxID <= cur {
				return nil
			}
			return fmt.Errorf("%w: log record %d: a page-image record after a logical one", ErrLogCorrupt, lsn)
		}
		txid, d, err := decodeOps(payload, ps)
		if err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrLogCorrupt, lsn, unprefixed(err))
		}
		if txid <= cur {
			return nil
		}
		if txid != cur+1 {
			return fmt.Errorf("%w: log record %d holds txid %d, expected %d", ErrLogCorrupt, lsn, txid, cur+1)
		}
		if tx == nil {
			tx = &Tx{replay: true}
			if err := db.beginWriteLocked(tx); err != nil {
				tx = nil
				return err
			}
		}
		for {
			more, err := d.next(&op)
			if err != nil {
				return fmt.Errorf("%w: record %d: %w", ErrLogCorrupt, lsn, unprefixed(err))
			}
			if !more {
				break
			}
			if err := tx.apply(&op); err != nil {
				return fmt.Errorf("%w: log record %d (txid %d) does not apply to the file: %w", ErrCorrupt, lsn, txid, unprefixed(err))
			}
		}
		cur = txid
		replayed++
		if batched += len(payload); batched >= replayOpsBytes || tx.runsRead*ps >= replayPagesBytes {
			return commit()
		}
		return nil
	})
	if err == nil && tx != nil {
		err = commit()
	}
	if tx != nil {
		tx.end()
	}
	if err != nil {
		return fmt.Errorf("folio: open %s: replaying the log: %w", db.path, unprefixed(asCorrupt(err)))
	}
	db.wal.opsPending = false
	if replayed > 0 {
		db.wal.replayed += replayed
		db.wal.replayedTxID = cur
	}
	if err := db.checkpointLocked(); err != nil {
		return fmt.Errorf("folio: open %s: checkpoint after replay: %w", db.path, unprefixed(err))
	}
	db.logf("folio: %s: replayed %d logged transactions, now at txid %d", db.path, replayed, cur)
	return nil
}

// writeMeta writes m into the meta slot that does not hold the current
// meta, so that a torn write leaves the current one intact, and syncs it.
// It returns that slot; the caller makes it DB.metaSlot (under mu once
// the DB is open: Info reads it).
//
// A failed write may have put part or all of m in the page cache, and so
// on disk: a meta with a valid checksum naming the pages of a commit that
// failed. Those pages go back to the free set; the next commit (a retry)
// would overwrite them before its own meta replaced that slot, and a
// crash in between would leave a valid meta naming overwritten pages
// (invariant 1), as would Close, which cuts the file's tail where they
// may be. So the slot is rewritten at once with the meta the other slot
// holds, and synced (restoreMeta); if that fails too, the DB refuses
// writes as after a failed sync (ErrSyncFailed; Close then keeps the
// tail). Rejected: keeping the failed commit's pages out of the free set
// until a later meta is durable. That state would have to reach the next
// commit and Close, pages past the high water mark are in no free set to
// be kept out of, and until then a crash could open the failed commit as
// if it had committed; here that window closes at the restoring sync.
func (db *DB) writeMeta(m *page.Meta, sync bool) (int, error) {
	return db.writeMetaCommit(m, nil, sync)
}

// writeMetaCommit is writeMeta for a meta listing runs, the runs its
// commit wrote (commitOneSync); nil for one whose pages are durable.
func (db *DB) writeMetaCommit(m *page.Meta, runs []page.CommitRun, sync bool) (int, error) {
	if err := db.upgradeMeta(); err != nil {
		return 0, err
	}
	if db.metaBuf == nil {
		db.metaBuf = make([]byte, db.pageSize)
	}
	buf := db.metaBuf
	slot := 1 - db.metaSlot
	page.EncodeMetaCommit(buf, page.ID(slot), m, runs)
	if err := db.st.WriteAt([][]byte{buf}, int64(slot)*int64(db.pageSize)); err != nil {
		err = fmt.Errorf("folio: %s: write meta: %w", db.path, err)
		if rerr := db.restoreMeta(slot, sync || len(runs) > 0); rerr != nil {
			db.refuseWrites(rerr)
			// NB: a failed restoring sync says ErrSyncFailed itself.
			if !errors.Is(rerr, ErrSyncFailed) {
				rerr = fmt.Errorf("%w (%w)", rerr, ErrSyncFailed)
			}
			return 0, fmt.Errorf("%w; then restoring meta page %d: %w", err, slot, rerr)
		}
		return 0, err
	}
	if db.metaVersions[slot] != page.Version {
		db.mu.Lock()
		db.metaVersions[slot] = page.Version
		db.mu.Unlock()
	}
	if sync {
		if err := db.syncRange(int64(slot)*int64(db.pageSize), int64(db.pageSize)); err != nil {
			return 0, err
		}
	}
	return slot, nil
}

// upgradeMeta makes a version 1 file's current meta page version 2
// before the first version 2 meta is written next to it (writeMetaCommit).
//
// An older folio reads only version 1 meta pages and, when one of the two
// does not decode, opens the other (it logs a note). A commit writing its
// version 2 meta beside the current version 1 one would leave that older
// folio opening the state before the commit, silently: the commit lost,
// and overwritten by its next one. So the current meta goes first, as
// version 2, into the other slot, synced, and becomes the current one;
// the commit's meta then goes over the version 1 slot. At every point of
// a crash the current folio opens the newest durable meta, and an older
// one finds either a version 1 copy of that same meta or two version 2
// (or one version 2 and one torn) pages, which it refuses with
// ErrVersionMismatch (98bfcde~1, tx/db.go chooseMeta: no meta decodes,
// one says ErrVersion). The other slot held the fallback meta; that is
// now the current one, whose pages this commit leaves alone (invariant 1).
//
// Rejected: rewriting the version 1 slot as version 2 after the commit's
// meta is durable. One write fewer, but a crash between the two leaves
// the commit's meta beside the version 1 meta before it, which an older
// folio opens. And rewriting the current slot in place: torn, it loses
// the newest acknowledged commit.
//
// NB: synced under NoSync too, once per file: the order is what keeps an
// older folio from the state before the commit. Read-only opens write
// nothing and keep version 1. REQUIRES: the write lock (or open).
func (db *DB) upgradeMeta() error {
	if db.metaVersions[db.metaSlot] >= page.Version {
		return nil
	}
	return db.copyMetaOver()
}

// copyMetaOver copies the current meta into the other slot as the
// current format version, synced, and makes that slot the current one.
// REQUIRES: the write lock (or open).
func (db *DB) copyMetaOver() error {
	slot := 1 - db.metaSlot
	if err := db.restoreMeta(slot, true); err != nil {
		return fmt.Errorf("folio: %s: copy meta page %d into %d as format version %d: %w", db.path, 1-slot, slot, page.Version, err)
	}
	db.mu.Lock()
	db.metaSlot = slot
	db.mu.Unlock()
	return nil
}

// upgradeBeforeLog makes both meta pages the current format version
// before this session appends its first record to the log (an anchor or
// a logged commit). Logged commits write no meta, and a folio reading
// only older versions takes salted log segments for garbage (it finds no
// frame it can check) and recycles them: after a crash, it would open the
// last checkpoint's meta and drop every commit the log held since,
// silently. With both pages current it refuses the file instead.
//
// Both, not one as upgradeMeta: no meta of this session follows to go
// over the other. The current meta is copied into the other slot, then
// back over its own, each synced: a crash between leaves the same meta
// in both versions, and no record yet. The log's anchors name the meta
// by txid and root checksum, which the copies keep. REQUIRES: the write
// lock (or open).
func (db *DB) upgradeBeforeLog() error {
	if db.readOnly || (db.metaVersions[0] == page.Version && db.metaVersions[1] == page.Version) {
		return nil
	}
	for range 2 {
		if err := db.copyMetaOver(); err != nil {
			return err
		}
	}
	return nil
}

// restoreMeta writes into meta slot slot, after a failed write of a new
// meta there (or to upgrade a version 1 file: upgradeMeta), the meta the
// other slot holds (the file's current one, as the page cache has it),
// and syncs it if sync is set. Both slots then hold the same meta; open
// takes either. REQUIRES: the write lock.
func (db *DB) restoreMeta(slot int, sync bool) error {
	ps := db.pageSize
	v, err := db.mapFile(int64(2 * ps))
	if err != nil {
		return err
	}
	cur := 1 - slot
	m, err := page.DecodeMeta(v.Bytes()[cur*ps:(cur+1)*ps], page.ID(cur))
	if cerr := v.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reading meta page %d: %w", cur, err)
	}
	return db.putMeta(slot, &m, sync)
}

// putMeta writes m, listing no runs, into meta slot slot and syncs it if
// sync is set: restoreMeta, and Open replacing a torn commit's meta. A
// failed sync refuses later writes, as syncRange does; the error names
// no path, which its callers' errors do.
func (db *DB) putMeta(slot int, m *page.Meta, sync bool) error {
	if db.metaBuf == nil {
		db.metaBuf = make([]byte, db.pageSize)
	}
	off, ps := int64(slot)*int64(db.pageSize), int64(db.pageSize)
	page.EncodeMeta(db.metaBuf, page.ID(slot), m)
	if err := db.st.WriteAt([][]byte{db.metaBuf}, off); err != nil {
		return err
	}
	db.mu.Lock()
	db.metaVersions[slot] = page.Version
	db.mu.Unlock()
	if !sync {
		return nil
	}
	if err := db.st.SyncRange(off, ps); err != nil {
		db.refuseWrites(err)
		return fmt.Errorf("sync: %w (%w)", err, ErrSyncFailed)
	}
	return nil
}

// refuseWrites makes every later write transaction fail with
// ErrSyncFailed, citing err unless an earlier cause is already noted.
func (db *DB) refuseWrites(err error) {
	db.mu.Lock()
	if db.failed == nil {
		db.failed = err
	}
	db.mu.Unlock()
}

// Checkpoint makes every commit durable in the file itself: it syncs the
// file, writes the current meta durably and lets the log drop what it
// held. WAL mode does this by itself every CheckpointBytes of log or
// CheckpointInterval, and on Close; without a log it does nothing. Over
// a file truncated underneath the database it fails with ErrCorrupt,
// keeps the log, and later writes fail with ErrSyncFailed. It waits for
// the write transaction in progress, as Begin(true) does: called inside
// an Update or Batch function, or by the goroutine holding a Begin(true)
// transaction, it waits forever (call it after the transaction ends).
// Once Close has begun it returns ErrDatabaseNotOpen.
func (db *DB) Checkpoint() error {
	if db == nil {
		return db.notOpen()
	}
	db.writer.Lock()
	defer db.writer.Unlock()
	if db.current.Load() == nil {
		return db.notOpen() // naming the file, as every other call's
	}
	return db.checkpointLocked()
}

// syncFailed returns ErrSyncFailed, wrapped, once a sync has failed:
// after a logged commit's sync failed, a writer that began on its state
// (and waited for it) must not make it durable or visible.
func (db *DB) syncFailed() error {
	db.mu.Lock()
	failed := db.failed
	db.mu.Unlock()
	if failed != nil {
		return db.failedError(failed)
	}
	return nil
}

// failedError is the error of a write refused after failed (db.failed):
// ErrSyncFailed and, wrapped, the cause, naming the path once.
func (db *DB) failedError(failed error) error {
	if strings.Contains(failed.Error(), db.path) {
		return fmt.Errorf("%w: %w", ErrSyncFailed, failed)
	}
	return fmt.Errorf("%w: %s: %w", ErrSyncFailed, db.path, failed)
}

// checkpointLocked is every checkpoint (Checkpoint, Close, the end of
// replayOps, and a logged commit's once it is durable: Commit) under one
// fault guard: a memory fault reading the mapping in it (a file
// truncated underneath) becomes the checkpoint's error instead of
// killing the process. For a commit's checkpoint that error is not the
// commit's: commitManaged would otherwise report ErrCorrupt, and a Batch
// hand it to every caller, for a commit that happened.
//
// NB: what the checkpoint had written when the fault came is unknown
// (its pages, its meta, the log's truncation), and the mapping no longer
// matches the file: as after a failed sync, the DB refuses writes until
// reopened (ErrSyncFailed); the log still holds every commit. REQUIRES:
// the write lock.
func (db *DB) checkpointLocked() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = faultError(db, r, " to checkpoint"); err == nil {
				panic(r)
			}
			db.refuseWrites(err)
		}
	}()
	return db.checkpointTxLocked()
}

// checkpointTxLocked is checkpointLocked's work, unguarded. REQUIRES:
// the write lock.
func (db *DB) checkpointTxLocked() error {
	if db.wal.log == nil {
		return nil
	}
	// Every logged commit is synced and published before the checkpoint:
	// it begins on the newest state and may truncate the log.
	db.wal.inflight.Wait()
	if err := db.syncFailed(); err != nil {
		return err
	}
	m := db.head.meta
	// Nothing since the last checkpoint, and the file holds a free list
	// (after a replay it does not: logged commits leave it out). NB: not
	// when leaving WAL mode (Options.WAL unset: Open removes the log once
	// Close returns): the last checkpoint's meta may be durable only in
	// the page cache (its sync failed, then a reopen in the same boot),
	// where a sync writes nothing; a new meta, synced, must replace it.
	leaving := !db.opts.WAL
	if db.readOnly || (!leaving && m.TxID == db.wal.ckptTxID && (m.Freelist != 0 || db.NoFreelistSync)) {
		return nil
	}
	err := db.checkpointTx(false)
	if err != nil && !db.NoFreelistSync && noRoom(err) && db.syncFailed() == nil {
		err = db.checkpointTx(true)
	}
	return err
}

// checkpointTx is one try at a checkpoint: an empty transaction committed
// directly. It writes the free list (logged commits leave it out), syncs
// the pages written since the last checkpoint, logged commits' included,
// then writes the meta (invariant 2) and truncates the log.
//
// Without room for the free list's run (the file cannot grow: a full
// disk, the file size limit, MaxSize), checkpointTxLocked tries again
// with noFreelist set: the meta then names no free list, and Open
// rebuilds it from the tree, as after NoFreelistSync or a replay; the
// next checkpoint writes it again. The pages held for recovery
// (walState.held) are released only by a checkpoint and are not free
// before it: when they were all that was left, every checkpoint failed
// to grow the file, and so did every commit after them, until a reopen
// (TestWALFullCheckpointHeld). The failed try changed nothing a meta
// reaches: it fails at growth (Commit, step 3) before it writes, or at
// a write of its free list into free pages.
//
// REQUIRES: the write lock.
func (db *DB) checkpointTx(noFreelist bool) error {
	tx := &Tx{checkpoint: true, noFreelist: noFreelist}
	if err := db.beginWriteLocked(tx); err != nil {
		return err
	}
	if checkpointHook != nil {
		checkpointHook(tx)
	}
	if !noFreelist {
		return tx.Commit()
	}
	txid := tx.meta.TxID
	if err := tx.Commit(); err != nil {
		return err
	}
	db.logf("folio: %s: checkpoint at txid %d wrote no free list (no room for it); open rebuilds it from the tree",
		db.path, txid)
	return nil
}

// noRoom reports whether err is a commit's failure for want of room: the
// disk, quota or file size limit (noSpace), or MaxSize; not a failed sync.
func noRoom(err error) bool {
	return errors.Is(err, ErrMaxSizeReached) || (noSpace(err) && !errors.Is(err, ErrSyncFailed))
}

// checkpointHook, if set, runs in each checkpoint's transaction before it
// commits. Only tests set it (export_ckpt_test.go), to make a checkpoint
// meet a memory fault (checkpointLocked): a checkpoint changes no
// tree and frees no run whose header it would read (the logged commit
// before it freed the free list's run), so no file truncated under it
// makes today's checkpoint fault.
var checkpointHook func(*Tx)

// checkFileLocked checks, before a checkpoint grows the file and again
// before it writes its meta, that the file still holds every page of a
// meta with high pages, and has not shrunk below the length the DB gave
// it (fileSize). Logged commits' pages are in the file unsynced, and the
// log holds their only durable copy until a checkpoint's meta is
// written: a meta over a truncated file names pages that are gone, and
// the log truncation after it drops that copy. So the checkpoint fails
// with ErrCorrupt before it writes a meta, the log is kept, and the DB
// refuses writes as after a failed sync (ErrSyncFailed): a reopen, once
// the file is restored, replays the log.
//
// Any shrink is refused, not only one reaching high: nothing shrinks a
// live file (Close gives the tail back once it is closed), so a shrink is
// someone else changing the file, and the mapping faults past its new
// end. Rejected: reading back the pages written since the last
// checkpoint against their checksums, which would also catch a file cut
// and grown back with zeros, for a read of all it syncs. Also rejected:
// the same check before every direct commit. Its data is lost already
// (reads of the cut pages fail with ErrCorrupt naming them), and in
// paired runs on the test VM the fstat cost W5 ~11% of its commits a
// second (8 rounds each, medians 1,820 against 2,055), far more than the
// ~2.5 µs the call takes alone. REQUIRES: the write lock.
func (db *DB) checkFileLocked(high page.ID) error {
	ps := int64(db.pageSize)
	size, need := db.st.Size(), max(db.fileSize, int64(high)*ps)
	if size >= need {
		return nil
	}
	// Each size once: the file is normally as long as grown, past high.
	want := fmt.Sprintf("%d bytes as grown (the meta reaches %d pages of %d bytes)", db.fileSize, high, ps)
	if need > db.fileSize {
		want = fmt.Sprintf("at least %d bytes (the meta reaches %d pages of %d bytes)", need, high, ps)
	}
	err := fmt.Errorf("folio: checkpoint %s: no meta written, the log kept: %w", db.path, page.Corruptf(page.ID(size/ps), "file length",
		want, fmt.Sprintf("%d bytes (truncated underneath the database?)", size)))
	db.refuseWrites(err)
	return err
}

// checkpointDue reports whether the log has grown or aged enough for a
// checkpoint. REQUIRES: the write lock.
func (db *DB) checkpointDue() bool {
	w := &db.wal
	if w.log == nil {
		return false
	}
	// Bytes appended, not the log's size: a log keeps its active segment
	// whole after a truncation, so its size does not fall to zero.
	if w.appended >= w.ckptBytes || time.Since(w.ckptTime) >= w.ckptEvery {
		return true
	}
	// The pages the checkpoint reaches that commits replaced are held
	// until the next one, and the file grows to hold their successors:
	// once they are a quarter of the file, and an eighth of the byte
	// budget (small files do not checkpoint at every commit; a huge
	// budget turns this off too), checkpoint rather than grow. Logical
	// records are small: on the byte budget alone a random load grew
	// the file by half.
	held := int64(w.held.PendingCount())
	return held*int64(db.pageSize) >= w.ckptBytes/8 && held*4 >= int64(db.head.meta.High)
}

// unprefixed is err inside the message of another folio error, which says
// "folio: " once, at its start: err's text without that prefix, and
// errors.Is and errors.As still reach err. Before, such errors were
// formatted with %v, which cut the chain ("record 5: folio: bad
// write-ahead log record: ..." and no errors.Is for errRecord or a
// *page.CorruptError).
func unprefixed(err error) error { return unprefixedError{err} }

type unprefixedError struct{ err error }

func (e unprefixedError) Error() string { return strings.TrimPrefix(e.err.Error(), "folio: ") }
func (e unprefixedError) Unwrap() error { return e.err }

// holedLog is a Log that Open let pass over damaged records (package
// wal's, opened with AllowHole): Hole says where reading resumes.
type holedLog interface {
	Hole() (next uint64, err error)
}

// logHole is the damage the log passed over, if any, and the first LSN
// after it, from which the log is read. REQUIRES: the log is set.
func (db *DB) logHole() (from uint64, err error) {
	if h, ok := db.wal.log.(holedLog); ok {
		return h.Hole()
	}
	return 0, nil
}

// walErrCorrupt is package wal's damage sentinel, reported as ErrCorrupt.
var walErrCorrupt = wal.ErrCorrupt

// asCorrupt makes damage the log found (wal.ErrCorrupt) an ErrLogCorrupt,
// and so an ErrCorrupt, too.
func asCorrupt(err error) error {
	if !errors.Is(err, ErrCorrupt) && errors.Is(err, walErrCorrupt) {
		return fmt.Errorf("%w: %w", ErrLogCorrupt, err)
	}
	return err
}
