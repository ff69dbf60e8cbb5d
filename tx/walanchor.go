package tx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/wal"
)

// An anchor record ties the log to the file. After every checkpoint, and
// when a database opens read-write with a log that does not name its state
// last already, the log gets one naming the meta the file now holds (its
// txid and root checksum; when the log has no room for it, the next
// logged commit appends it first: appendAnchor). Recovery applies the
// first record past the file's meta only if the last anchor before it
// names that meta: a log kept beside a file that was replaced (a restored backup,
// another copy of the database) can hold records whose txids follow the
// file's and yet belong to another history, and replaying them would
// write another database's pages, or operations, into this one. Txids
// alone cannot tell. A log written before anchors existed has none and
// replays as before.
//
// Wire format (24 bytes, framed and checksummed by package wal):
//
//	off  size  field
//	  0     4  magic "fTXR"
//	  4     4  version 6
//	  8     8  txid of the file's meta
//	 16     4  page size
//	 20     4  root checksum of that meta
const (
	recordVersionAnchor uint32 = 6
	anchorBytes                = 24
)

// ErrLogMismatch is returned by Open when the write-ahead log holds
// commits that do not follow the file's state: the file was replaced or
// restored while the log of another state was kept beside it. Nothing is
// written. Move the log directory aside to open the file as it is, or put
// back the file the log belongs to.
var ErrLogMismatch = errors.New("folio: the write-ahead log does not follow this file")

// logAnchor is a decoded anchor record.
type logAnchor struct {
	txid page.TxID
	sum  uint32
	lsn  uint64
	ok   bool // an anchor was read
}

func encodeAnchor(m *page.Meta) []byte {
	b := make([]byte, anchorBytes)
	binary.LittleEndian.PutUint32(b[0:], recordMagic)
	binary.LittleEndian.PutUint32(b[4:], recordVersionAnchor)
	binary.LittleEndian.PutUint64(b[8:], uint64(m.TxID))
	binary.LittleEndian.PutUint32(b[16:], m.PageSize)
	binary.LittleEndian.PutUint32(b[20:], m.RootSum)
	return b
}

// decodeAnchor decodes an anchor record for a file of page size ps.
func decodeAnchor(b []byte, ps int) (logAnchor, error) {
	if len(b) != anchorBytes || recordVersionOf(b) != recordVersionAnchor {
		return logAnchor{}, fmt.Errorf("%w: anchor of %d bytes", errRecord, len(b))
	}
	if got := int(binary.LittleEndian.Uint32(b[16:])); got != ps {
		return logAnchor{}, fmt.Errorf("%w: page size %d, the file's is %d", errRecord, got, ps)
	}
	return logAnchor{
		txid: page.TxID(binary.LittleEndian.Uint64(b[8:])),
		sum:  binary.LittleEndian.Uint32(b[20:]),
		ok:   true,
	}, nil
}

// names reports whether a names the meta m.
func (a logAnchor) names(m page.Meta) bool {
	return a.ok && a.txid == m.TxID && a.sum == m.RootSum
}

// follows checks, before the first record past the file's meta m is
// applied, that the last anchor read (if any) names m, or that the
// record just before it is a page image whose meta is m (prev; see
// imageState).
func (a logAnchor) follows(prev logAnchor, m page.Meta, lsn uint64) error {
	if !a.ok || a.names(m) || prev.names(m) {
		return nil
	}
	what := "anchor"
	if prev.ok && prev.txid == m.TxID {
		a, what = prev, "record" // the nearer state, and the file's txid
	}
	return fmt.Errorf("%w: log record %d follows the state of %s %d (txid %d, root checksum %#08x), "+
		"the file holds txid %d with root checksum %#08x", ErrLogMismatch, lsn, what, a.lsn, a.txid, a.sum, m.TxID, m.RootSum)
}

// imageState is the state a page-image record leaves, as an anchor: its
// meta's txid and root checksum. A recovery whose log holds images and
// then operations writes the meta of the last image record durably
// before it replays the operations (replayLog) and anchors only at the
// checkpoint that ends that replay; the log is append-only, so no anchor
// can go between. A crash in between leaves the file at that record's
// state, which only the record names. The root checksum ties the file to
// this log as an anchor's does.
//
// So the callers pass it to follows only in that shape: the record just
// before the first operation record past the file, with no anchor
// between (an anchor names the state from its place on: a file of
// another history at the same txid was opened beside this log). Before
// a page image past the file it counts for nothing: recovery writes no
// meta before its last image, and a backup restored at a logged commit's
// txid beside the log of later commits must still be refused, not
// rolled forward. After an operation record the callers keep no state:
// it carries no root checksum to compare.
func imageState(m page.Meta, lsn uint64) logAnchor {
	return logAnchor{txid: m.TxID, sum: m.RootSum, lsn: lsn, ok: true}
}

// appendAnchor logs an anchor for m, the meta the file holds now: after
// a checkpoint, or at Open. It is not synced: the sync of the next logged
// commit covers it.
//
// An append that failed cleanly (wal.ErrNotAppended: the log had no room
// for a new segment, and nothing reached the disk) stops nothing: m is
// noted in walState.unanchored, and the next logged commit appends the
// anchor before its own record, or fails alone if there is still no room
// (appendUnanchored). Until then no record follows m, so a crash loses
// nothing: Open finds m in the file and no record past it. The failure is
// logged, not returned: the checkpoint, or the open, succeeded. Before, a
// clean failure stopped writes until a reopen, although the log was as it
// had been, and failed Open with "an earlier sync failed". Rejected:
// failing Open still: a full disk would keep the database from opening
// read-write, reads included, for a record no commit needs yet.
//
// Any other failure may have left part of a frame in the log: later
// writes stop until a reopen, as after a failed commit append
// (appendLogged); at Open it is the open's error, which no sync caused.
func (db *DB) appendAnchor(m *page.Meta) error {
	db.wal.unanchored = nil
	err := db.putAnchor(m)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wal.ErrNotAppended):
		a := *m
		db.wal.unanchored = &a
		db.logf("folio: %s: no room in the log for the anchor of txid %d; the next logged commit appends it first: %v",
			db.path, m.TxID, err)
		return nil
	case db.current.Load() == nil:
		// Not published yet: Open's anchor. The DB is not handed out.
		return fmt.Errorf("folio: open %s: append an anchor to the log: %w", db.path, err)
	}
	err = fmt.Errorf("append an anchor to the log: %w", err)
	db.refuseWrites(err)
	return fmt.Errorf("folio: %s: %w (%w)", db.path, err, ErrSyncFailed)
}

// appendUnanchored appends the anchor appendAnchor found no room for, if
// one waits (walState.unanchored). A logged commit calls it before it
// appends its record (appendLogged): Open applies the first record past
// the file's meta only after an anchor naming that meta, and would
// refuse the log (ErrLogMismatch) if the last anchor before it named an
// older one. Still no room fails that commit alone, with an error that
// wraps wal.ErrNotAppended and the system's; any other failure stops
// writes, as a failed commit append does. REQUIRES: the write lock.
func (db *DB) appendUnanchored() error {
	m := db.wal.unanchored
	if m == nil {
		return nil
	}
	err := db.putAnchor(m)
	switch {
	case err == nil:
		db.wal.unanchored = nil
		return nil
	case errors.Is(err, wal.ErrNotAppended):
		return fmt.Errorf("folio: commit %s: append the anchor of txid %d to the log first: %w", db.path, m.TxID, err)
	}
	err = fmt.Errorf("append the anchor of txid %d to the log: %w", m.TxID, err)
	db.refuseWrites(err)
	return fmt.Errorf("folio: commit %s: %w (%w)", db.path, err, ErrSyncFailed)
}

// putAnchor appends an anchor record for m. REQUIRES: the write lock, or
// an Open not yet returned.
func (db *DB) putAnchor(m *page.Meta) error {
	if err := db.upgradeBeforeLog(); err != nil {
		return err
	}
	lsn, err := db.wal.log.Append(encodeAnchor(m))
	if err != nil {
		return err
	}
	db.wal.lastLSN = lsn
	return nil
}
