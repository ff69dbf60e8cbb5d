package tx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/foliodb/folio/page"
)

// Wire format: the payload of one write-ahead-log record, one committed
// transaction's page images (package wal frames, checksums and compresses
// it; this is what is inside). Version 2:
//
//	off  size  field
//	  0     4  magic "fTXR"
//	  4     4  version 2
//	  8     8  txid
//	 16     4  page size
//	 20     4  run count
//	 24     4  meta bytes stored (m)
//	 28     m  the transaction's meta page, sealed, without its zero tail
//	  …        runs: first page id u64 | pages u32 | bytes stored u32 (s) |
//	           s bytes: the sealed run without its zero tail
//
// A page's elements and keys are packed from its start, so its free space
// is a zero tail: leaving it out takes ~35% off a record of partly filled
// pages at no cost (s2 did the same for ~30 µs a 16 KiB record). The
// stored part never ends in a zero byte, so each record has one encoding.
// Version 1 (whole pages, 12-byte run headers, the meta at 24) still
// decodes: a log written before the change replays.
//
// Page images are the record of choice: replay then only copies pages,
// with no tree code involved, and lands the file in exactly the state the
// transaction left in memory (same page ids). A transaction with more
// than DB.WALImageLimit of images logs its operations instead, and so
// does every commit after it until the next checkpoint (walops.go).
const (
	recordMagic    uint32 = 0x52585466 // "fTXR"
	recordVersion  uint32 = 2
	recordVersion1 uint32 = 1
	recordHeader          = 28
	recordHeaderV1        = 24
	runHeader             = 16
	runHeaderV1           = 12
	// trimmedMinBytes is the least a trimmed run or meta may store: its
	// last stored byte is its last non-zero one, which can lie inside the
	// page header (a large value of zero bytes: the header's tail is
	// zero too). The zeros are put back before the run is checked whole.
	trimmedMinBytes = 1
	// maxReplayBytes bounds the pages one version-2 record may claim
	// (what its decoder allocates): far above what a logged commit holds
	// (maxRecordBytes), so it only stops a hostile record.
	maxReplayBytes = 64 << 20
)

// errRecord marks a log record that does not decode.
var errRecord = errors.New("folio: bad write-ahead log record")

// decodeRecordMeta checks a record's header and decodes its meta page,
// for a file of page size ps; it returns where the runs start.
func decodeRecordMeta(b []byte, ps int) (_ page.Meta, runsAt int, _ error) {
	if len(b) < recordHeaderV1 {
		return page.Meta{}, 0, fmt.Errorf("%w: %d bytes", errRecord, len(b))
	}
	if m := binary.LittleEndian.Uint32(b[0:]); m != recordMagic {
		return page.Meta{}, 0, fmt.Errorf("%w: magic %#x", errRecord, m)
	}
	v := binary.LittleEndian.Uint32(b[4:])
	if v != recordVersion && v != recordVersion1 {
		return page.Meta{}, 0, fmt.Errorf("%w: version %d", errRecord, v)
	}
	if got := int(binary.LittleEndian.Uint32(b[16:])); got != ps {
		return page.Meta{}, 0, fmt.Errorf("%w: page size %d, the file's is %d", errRecord, got, ps)
	}
	trimmed := v == recordVersion
	off, metaLen := recordHeaderV1, ps
	if trimmed {
		if len(b) < recordHeader {
			return page.Meta{}, 0, fmt.Errorf("%w: %d bytes", errRecord, len(b))
		}
		off, metaLen = recordHeader, int(binary.LittleEndian.Uint32(b[24:]))
	}
	if len(b)-off < metaLen {
		return page.Meta{}, 0, fmt.Errorf("%w: no room for the meta page", errRecord)
	}
	if trimmed && (metaLen < trimmedMinBytes || metaLen > ps || b[off+metaLen-1] == 0) {
		return page.Meta{}, 0, fmt.Errorf("%w: meta of %d bytes", errRecord, metaLen)
	}
	mp := b[off : off+metaLen]
	if trimmed {
		mp = make([]byte, ps)
		copy(mp, b[off:off+metaLen])
	}
	m, err := page.DecodeMeta(mp, 0)
	if err != nil {
		return page.Meta{}, 0, fmt.Errorf("%w: meta: %v", errRecord, err)
	}
	// A logged commit's meta lists no runs (EncodeMeta), and replay
	// re-encodes it without them: refused, so a record has one encoding.
	if n := len(page.MetaCommitRuns(mp, nil)); n > 0 {
		return page.Meta{}, 0, fmt.Errorf("%w: meta lists %d commit runs", errRecord, n)
	}
	if m.PageSize != uint32(ps) {
		// Replay would write this meta into the file as it is.
		return page.Meta{}, 0, fmt.Errorf("%w: meta page size %d, the file's is %d", errRecord, m.PageSize, ps)
	}
	if m.TxID != page.TxID(binary.LittleEndian.Uint64(b[8:])) {
		return page.Meta{}, 0, fmt.Errorf("%w: txid %d, meta says %d", errRecord, binary.LittleEndian.Uint64(b[8:]), m.TxID)
	}
	return m, off + metaLen, nil
}

// walRecord is a decoded record. Runs alias the payload (version 1) or
// one buffer of the record's own (version 2).
type walRecord struct {
	meta page.Meta
	runs []dirtyRun
}

// grows checks the record's high water mark against high, the file's
// before it: a commit extends the file only by runs it allocates at the
// end (Tx.Allocate), and writes each of them, so its record holds every
// page in [high, meta.High). Replay grows the file to meta.High; without
// this a record with valid checksums could make it any size (a run far
// past the file, with a High just above it, passes decodeRecord).
func (rec *walRecord) grows(high page.ID, ps int) error {
	if rec.meta.High <= high {
		return nil
	}
	covered := uint64(0) // pages at or past high the runs write
	for _, r := range rec.runs {
		end := uint64(r.id) + uint64(len(r.run)/ps)
		if end > uint64(high) {
			covered += end - max(uint64(r.id), uint64(high))
		}
	}
	if want := uint64(rec.meta.High - high); covered < want {
		return fmt.Errorf("%w: high water mark %d past the file's %d, yet its runs write only %d of the %d new pages",
			errRecord, rec.meta.High, high, covered, want)
	}
	return nil
}

// storedLen is b's length without its zero tail.
func storedLen(b []byte) int {
	n := len(b)
	for n >= 8 && binary.LittleEndian.Uint64(b[n-8:]) == 0 {
		n -= 8
	}
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

// recordParts lays out the record of a transaction from its meta and runs
// as parts of one payload, appended to parts, without copying the pages:
// the header and the meta, then each run's header and its stored bytes,
// a slice of the run. The headers go in head (grown if needed; both are
// returned for reuse), and n is the payload's length. Before, the record
// was built in one buffer: a commit of a 16 MiB value copied its run once
// more for it, and package wal once again to frame it.
func recordParts(head []byte, parts [][]byte, meta *page.Meta, ps int, runs []dirtyRun) (_ []byte, _ [][]byte, n int) {
	need := recordHeader + ps + runHeader*len(runs)
	if cap(head) < need {
		head = make([]byte, need)
	}
	head = head[:need]
	binary.LittleEndian.PutUint32(head[0:], recordMagic)
	binary.LittleEndian.PutUint32(head[4:], recordVersion)
	binary.LittleEndian.PutUint64(head[8:], uint64(meta.TxID))
	binary.LittleEndian.PutUint32(head[16:], uint32(ps))
	binary.LittleEndian.PutUint32(head[20:], uint32(len(runs)))
	// Slot 0 in the image: replay writes it to whichever slot is free.
	mp := head[recordHeader : recordHeader+ps]
	clear(mp)
	page.EncodeMeta(mp, 0, meta)
	m := storedLen(mp)
	binary.LittleEndian.PutUint32(head[24:], uint32(m))
	// The run headers go after the meta page's image: a part may end
	// anywhere, so the meta's zero tail is not in the way.
	off, cut := recordHeader+ps, recordHeader+m
	parts = append(parts, head[:cut])
	n = cut
	for _, r := range runs {
		s := storedLen(r.run)
		h := head[off : off+runHeader]
		binary.LittleEndian.PutUint64(h, uint64(r.id))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(r.run)/ps))
		binary.LittleEndian.PutUint32(h[12:], uint32(s))
		parts = append(parts, h, r.run[:s])
		off += runHeader
		n += runHeader + s
	}
	return head, parts, n
}

// decodeRecord checks and decodes a record for a file of page size ps.
// Every run must be a sealed run whose header names its page id.
func decodeRecord(b []byte, ps int) (walRecord, error) {
	var rec walRecord
	m, off, err := decodeRecordMeta(b, ps)
	if err != nil {
		return rec, err
	}
	trimmed := binary.LittleEndian.Uint32(b[4:]) == recordVersion
	rh := runHeaderV1
	if trimmed {
		rh = runHeader
	}
	rec.meta = m
	count := int(binary.LittleEndian.Uint32(b[20:]))
	minRun := rh + ps
	if trimmed {
		minRun = rh + trimmedMinBytes
	}
	// NB: count < 0 where int has 32 bits and the field is 2^31 or more.
	if count < 0 || count > (len(b)-off)/minRun {
		return rec, fmt.Errorf("%w: %d runs in %d bytes", errRecord, count, len(b)-off)
	}
	rec.runs = make([]dirtyRun, 0, count)
	// Version 2's runs get their zero tails back in one buffer; its size
	// is bounded by the pages the headers claim, checked below against
	// the meta's high water mark before anything is allocated.
	var whole []byte
	if trimmed {
		total := uint64(0)
		for i, o := 0, off; i < count; i++ {
			if len(b)-o < rh {
				return rec, fmt.Errorf("%w: run %d truncated", errRecord, i)
			}
			pages := uint64(binary.LittleEndian.Uint32(b[o+8:]))
			total += pages
			if pages == 0 || total > uint64(m.High) || total > maxReplayBytes/uint64(ps) {
				return rec, fmt.Errorf("%w: run %d: %d pages", errRecord, i, pages)
			}
			o += rh + int(binary.LittleEndian.Uint32(b[o+12:]))
			if o > len(b) {
				return rec, fmt.Errorf("%w: run %d truncated", errRecord, i)
			}
		}
		whole = make([]byte, total*uint64(ps))
	}
	for i := 0; i < count; i++ {
		if len(b)-off < rh {
			return rec, fmt.Errorf("%w: run %d truncated", errRecord, i)
		}
		id := page.ID(binary.LittleEndian.Uint64(b[off:]))
		pages := uint64(binary.LittleEndian.Uint32(b[off+8:]))
		stored := pages * uint64(ps)
		if trimmed {
			stored = uint64(binary.LittleEndian.Uint32(b[off+12:]))
		}
		off += rh
		if pages == 0 || stored > pages*uint64(ps) || stored > uint64(len(b)-off) || id < 2 || uint64(id) >= uint64(m.High) || pages > uint64(m.High)-uint64(id) {
			return rec, fmt.Errorf("%w: run %d: page %d, %d pages", errRecord, i, id, pages)
		}
		run := b[off : off+int(stored)]
		if trimmed {
			if stored < trimmedMinBytes || run[len(run)-1] == 0 {
				return rec, fmt.Errorf("%w: run %d: %d bytes stored", errRecord, i, stored)
			}
			copy(whole, run)
			run, whole = whole[:pages*uint64(ps)], whole[pages*uint64(ps):]
		}
		if _, err := page.CheckRun(run, id, ps, page.FlagBranch|page.FlagLeaf|page.FlagLarge|page.FlagFreelist, page.PageChecksum(run), true); err != nil {
			return rec, fmt.Errorf("%w: run %d: %v", errRecord, i, err)
		}
		rec.runs = append(rec.runs, dirtyRun{id: id, run: run})
		off += int(stored)
	}
	if off != len(b) {
		return rec, fmt.Errorf("%w: %d trailing bytes", errRecord, len(b)-off)
	}
	return rec, nil
}
