package tx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/foliodb/folio/page"
)

// Wire format: the payload of one write-ahead-log record, one committed
// transaction's page images (package wal frames, checksums and compresses
// it; this is what is inside):
//
//	off  size  field
//	  0     4  magic "fTXR"
//	  4     4  version 1
//	  8     8  txid
//	 16     4  page size
//	 20     4  run count
//	 24    ps  the transaction's meta page, sealed
//	  …        runs: first page id u64 | pages u32 | pages×ps bytes, sealed
//
// Page images rather than logical operations: replay then only copies
// pages, with no tree code involved, and lands the file in exactly the
// state the transaction left in memory (same page ids, same free list);
// s2 compression in the log takes back most of the empty page space.
const (
	recordMagic   uint32 = 0x52585466 // "fTXR"
	recordVersion uint32 = 1
	recordHeader         = 24
	runHeader            = 12
)

// errRecord marks a log record that does not decode.
var errRecord = errors.New("folio: bad write-ahead log record")

// walRecord is a decoded record. Runs alias the payload.
type walRecord struct {
	meta page.Meta
	runs []dirtyRun
}

// encodeRecord builds the record of a transaction from its meta and runs.
func encodeRecord(buf []byte, meta *page.Meta, ps int, runs []dirtyRun) []byte {
	n := recordHeader + ps
	for _, r := range runs {
		n += runHeader + len(r.run)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	binary.LittleEndian.PutUint32(buf[0:], recordMagic)
	binary.LittleEndian.PutUint32(buf[4:], recordVersion)
	binary.LittleEndian.PutUint64(buf[8:], uint64(meta.TxID))
	binary.LittleEndian.PutUint32(buf[16:], uint32(ps))
	binary.LittleEndian.PutUint32(buf[20:], uint32(len(runs)))
	// Slot 0 in the image: replay writes it to whichever slot is free.
	page.EncodeMeta(buf[recordHeader:recordHeader+ps], 0, meta)
	off := recordHeader + ps
	for _, r := range runs {
		binary.LittleEndian.PutUint64(buf[off:], uint64(r.id))
		binary.LittleEndian.PutUint32(buf[off+8:], uint32(len(r.run)/ps))
		off += runHeader
		off += copy(buf[off:], r.run)
	}
	return buf
}

// decodeRecord checks and decodes a record for a file of page size ps.
// Every run must be a sealed run whose header names its page id.
func decodeRecord(b []byte, ps int) (walRecord, error) {
	var rec walRecord
	if len(b) < recordHeader {
		return rec, fmt.Errorf("%w: %d bytes", errRecord, len(b))
	}
	if m := binary.LittleEndian.Uint32(b[0:]); m != recordMagic {
		return rec, fmt.Errorf("%w: magic %#x", errRecord, m)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != recordVersion {
		return rec, fmt.Errorf("%w: version %d", errRecord, v)
	}
	if got := int(binary.LittleEndian.Uint32(b[16:])); got != ps {
		return rec, fmt.Errorf("%w: page size %d, the file's is %d", errRecord, got, ps)
	}
	if len(b) < recordHeader+ps {
		return rec, fmt.Errorf("%w: no room for the meta page", errRecord)
	}
	m, err := page.DecodeMeta(b[recordHeader:recordHeader+ps], 0)
	if err != nil {
		return rec, fmt.Errorf("%w: meta: %v", errRecord, err)
	}
	if m.TxID != page.TxID(binary.LittleEndian.Uint64(b[8:])) {
		return rec, fmt.Errorf("%w: txid %d, meta says %d", errRecord, binary.LittleEndian.Uint64(b[8:]), m.TxID)
	}
	rec.meta = m
	count := int(binary.LittleEndian.Uint32(b[20:]))
	off := recordHeader + ps
	if count > (len(b)-off)/(runHeader+ps) {
		return rec, fmt.Errorf("%w: %d runs in %d bytes", errRecord, count, len(b)-off)
	}
	rec.runs = make([]dirtyRun, 0, count)
	for i := 0; i < count; i++ {
		if len(b)-off < runHeader {
			return rec, fmt.Errorf("%w: run %d truncated", errRecord, i)
		}
		id := page.ID(binary.LittleEndian.Uint64(b[off:]))
		pages := uint64(binary.LittleEndian.Uint32(b[off+8:]))
		off += runHeader
		if pages == 0 || pages > uint64(len(b)-off)/uint64(ps) || id < 2 || uint64(id)+pages > uint64(m.High) {
			return rec, fmt.Errorf("%w: run %d: page %d, %d pages", errRecord, i, id, pages)
		}
		run := b[off : off+int(pages)*ps]
		if _, err := page.CheckRun(run, id, ps, page.FlagBranch|page.FlagLeaf|page.FlagLarge|page.FlagFreelist, page.PageChecksum(run), true); err != nil {
			return rec, fmt.Errorf("%w: run %d: %v", errRecord, i, err)
		}
		rec.runs = append(rec.runs, dirtyRun{id: id, run: run})
		off += len(run)
	}
	if off != len(b) {
		return rec, fmt.Errorf("%w: %d trailing bytes", errRecord, len(b)-off)
	}
	return rec, nil
}
