package tx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/foliodb/folio/page"
)

// An anchor record ties the log to the file. After every checkpoint, and
// when a database opens read-write with a log that does not name its state
// last already, the log gets one naming the meta the file now holds (its
// txid and root checksum). Recovery applies the first
// record past the file's meta only if the last anchor before it names that
// meta: a log kept beside a file that was replaced (a restored backup,
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

// follows checks, before the first record past the file's meta m is
// applied, that the last anchor read (if any) names m.
func (a logAnchor) follows(m page.Meta, lsn uint64) error {
	if !a.ok || (a.txid == m.TxID && a.sum == m.RootSum) {
		return nil
	}
	return fmt.Errorf("%w: log record %d follows the state of anchor %d (txid %d, root checksum %#08x), "+
		"the file holds txid %d with root checksum %#08x", ErrLogMismatch, lsn, a.lsn, a.txid, a.sum, m.TxID, m.RootSum)
}

// appendAnchor logs an anchor for m, the meta the file holds now. It is
// not synced: the sync of the next logged commit covers it. A failed
// append stops writes, as a failed commit append does (appendLogged).
func (db *DB) appendAnchor(m *page.Meta) error {
	lsn, err := db.wal.log.Append(encodeAnchor(m))
	if err != nil {
		db.refuseWrites(err)
		return fmt.Errorf("folio: %s: append an anchor to the log: %w (%w)", db.path, err, ErrSyncFailed)
	}
	db.wal.lastLSN = lsn
	return nil
}
