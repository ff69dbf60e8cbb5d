package tx

import (
	"encoding/binary"
	"fmt"

	"github.com/foliodb/folio/page"
)

// Logical log records (version 3): a transaction's operations instead of
// its pages.
//
// A page-image record holds every page a transaction wrote: a random
// load of 1,000 keys (W2) rewrites ~1,000 leaves, 4 MiB of images for
// 120 KiB of keys and values, and the device bandwidth, not the sync,
// bounds it (such transactions committed directly instead, which writes
// the same 4 MiB). A logical record holds the keys and values; the pages
// go to the file unsynced as for any logged commit, and a checkpoint
// writes each page once however often it changed in between.
//
// Replay re-runs the operations, so it lays out pages its own way: a
// page-image record after a logical one would name pages replay did not
// write. So once a logical record is logged, every record until the
// next checkpoint is logical (walState.logical), and replay applies the
// page images that precede the first logical record, then runs the rest.
//
//	off  size  field
//	  0     4  magic "fTXR"
//	  4     4  version 3
//	  8     8  txid
//	 16     4  page size
//	 20     4  operation count
//	 24        operations
//
// Each operation: kind u8 | bucket path | fields. A path is a uvarint
// depth then that many names from the top (depth 0: the bucket
// directory); bytes fields are a uvarint length and the bytes.
//
//	put          key, value
//	delete       key
//	create       name (a nested bucket)
//	drop         name (DeleteBucket)
//	sequence     uvarint value
//	move         key, destination path (MoveBucket)
const (
	recordVersionOps uint32 = 3
	opsHeader               = 24
	// maxOpsBytes bounds a logical record; a bigger transaction commits
	// directly (its data is written once, to the file).
	maxOpsBytes = 64 << 20
)

// Operation kinds.
const (
	opPut byte = iota + 1
	opDelete
	opCreate
	opDrop
	opSequence
	opMove
)

// walOp is a decoded operation; its slices alias the record.
type walOp struct {
	kind       byte
	path       [][]byte
	key, value []byte
	seq        uint64
	dst        [][]byte
}

// opsRefMin is the smallest value a logical record refers to rather than
// copies (opsRefs): past it, the copy costs more than a reference, and a
// large value (tens of MiB) was copied into the operations whole, a third
// copy of it in memory before the commit.
const opsRefMin = 32 << 10

// opsRefs are the values of a logical record that stay where they are
// (the tree's copies): value i goes at offset at[i] of tx.ops, where the
// record is cut (opsParts). size is their bytes.
type opsRefs struct {
	at     []int
	values [][]byte
	size   int
}

// logOp appends a successful operation on b to the transaction's
// record. a is the key or name, c the value (put). REQUIRES: for opPut,
// c is the tree's copy of the value (btree.Tree.PutCopy), which nothing
// writes to: from opsRefMin bytes on, the record refers to it.
func (tx *Tx) logOp(kind byte, b *Bucket, a, c []byte, seq uint64, dst *Bucket) {
	if tx.opsLen()+len(a)+len(c) > maxOpsBytes {
		// Too big to log: the commit will be direct. Stop copying.
		tx.logging, tx.ops, tx.opsRefs = false, nil, nil
		return
	}
	tx.ops = append(tx.ops, kind)
	tx.ops = appendPath(tx.ops, b)
	switch kind {
	case opSequence:
		tx.ops = binary.AppendUvarint(tx.ops, seq)
	default:
		tx.ops = appendBytes(tx.ops, a)
	}
	switch {
	case kind == opPut && len(c) >= opsRefMin:
		tx.ops = binary.AppendUvarint(tx.ops, uint64(len(c)))
		r := tx.opsRefs
		if r == nil {
			r = new(opsRefs)
			tx.opsRefs = r
		}
		r.at, r.values, r.size = append(r.at, len(tx.ops)), append(r.values, c), r.size+len(c)
	case kind == opPut:
		tx.ops = appendBytes(tx.ops, c)
	case kind == opMove:
		tx.ops = appendPath(tx.ops, dst)
	}
	tx.opCount++
}

// opsLen is the size of the transaction's logical record so far.
func (tx *Tx) opsLen() int {
	if tx.opsRefs == nil {
		return len(tx.ops)
	}
	return len(tx.ops) + tx.opsRefs.size
}

// opsParts appends to parts the logical record in tx.ops, sealed, cut
// where the values it refers to go in.
func (tx *Tx) opsParts(parts [][]byte) [][]byte {
	rec := sealOps(tx.ops, tx.meta.TxID, tx.r.pageSize, tx.opCount)
	last := 0
	if r := tx.opsRefs; r != nil {
		for i, at := range r.at {
			parts = append(parts, rec[last:at], r.values[i])
			last = at
		}
	}
	return append(parts, rec[last:])
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendPath appends b's path: its depth, then its names from the top.
func appendPath(dst []byte, b *Bucket) []byte {
	depth := 0
	for p := b; p.parent != nil; p = p.parent {
		depth++
	}
	dst = binary.AppendUvarint(dst, uint64(depth))
	return appendNames(dst, b)
}

func appendNames(dst []byte, b *Bucket) []byte {
	if b.parent == nil {
		return dst
	}
	return appendBytes(appendNames(dst, b.parent), []byte(b.name))
}

// sealOps fills in the header of a logical record built in rec.
func sealOps(rec []byte, txid page.TxID, ps, count int) []byte {
	binary.LittleEndian.PutUint32(rec[0:], recordMagic)
	binary.LittleEndian.PutUint32(rec[4:], recordVersionOps)
	binary.LittleEndian.PutUint64(rec[8:], uint64(txid))
	binary.LittleEndian.PutUint32(rec[16:], uint32(ps))
	binary.LittleEndian.PutUint32(rec[20:], uint32(count))
	return rec
}

// recordVersionOf returns a record's version, or 0 if it has no header.
func recordVersionOf(b []byte) uint32 {
	if len(b) < 8 || binary.LittleEndian.Uint32(b[0:]) != recordMagic {
		return 0
	}
	return binary.LittleEndian.Uint32(b[4:])
}

// opsDecoder reads the operations of a logical record.
type opsDecoder struct {
	b     []byte
	off   int
	left  int // operations not yet read
	paths [2][][]byte
}

// decodeOps checks a logical record's header for a file of page size ps
// and returns its txid and a decoder for its operations.
func decodeOps(b []byte, ps int) (page.TxID, *opsDecoder, error) {
	if len(b) < opsHeader {
		return 0, nil, fmt.Errorf("%w: %d bytes", errRecord, len(b))
	}
	if m := binary.LittleEndian.Uint32(b[0:]); m != recordMagic {
		return 0, nil, fmt.Errorf("%w: magic %#x", errRecord, m)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != recordVersionOps {
		return 0, nil, fmt.Errorf("%w: version %d, want %d", errRecord, v, recordVersionOps)
	}
	if got := int(binary.LittleEndian.Uint32(b[16:])); got != ps {
		return 0, nil, fmt.Errorf("%w: page size %d, the file's is %d", errRecord, got, ps)
	}
	txid := page.TxID(binary.LittleEndian.Uint64(b[8:]))
	count := int(binary.LittleEndian.Uint32(b[20:]))
	// Every operation takes at least three bytes (kind, depth, a length).
	if count > (len(b)-opsHeader)/3 {
		return 0, nil, fmt.Errorf("%w: %d operations in %d bytes", errRecord, count, len(b)-opsHeader)
	}
	return txid, &opsDecoder{b: b, off: opsHeader, left: count}, nil
}

// next decodes the next operation into op, or returns false at the end
// (with an error if the record does not end where its count says).
func (d *opsDecoder) next(op *walOp) (bool, error) {
	if d.left == 0 {
		if d.off != len(d.b) {
			return false, fmt.Errorf("%w: %d trailing bytes", errRecord, len(d.b)-d.off)
		}
		return false, nil
	}
	n := d.left
	d.left--
	fail := func(what string) (bool, error) {
		return false, fmt.Errorf("%w: operation %d from the end: %s at byte %d", errRecord, n, what, d.off)
	}
	if d.off >= len(d.b) {
		return fail("truncated")
	}
	*op = walOp{kind: d.b[d.off]}
	d.off++
	if op.kind < opPut || op.kind > opMove {
		return fail(fmt.Sprintf("kind %d", op.kind))
	}
	var ok bool
	if op.path, ok = d.path(0); !ok {
		return fail("bad bucket path")
	}
	switch op.kind {
	case opSequence:
		v, k := binary.Uvarint(d.b[d.off:])
		if k <= 0 {
			return fail("bad sequence")
		}
		op.seq, d.off = v, d.off+k
	default:
		limit := MaxKeySize
		if op.key, ok = d.bytes(limit); !ok || len(op.key) == 0 {
			return fail("bad key")
		}
	}
	switch op.kind {
	case opPut:
		if op.value, ok = d.bytes(MaxValueSize); !ok {
			return fail("bad value")
		}
	case opMove:
		if op.dst, ok = d.path(1); !ok {
			return fail("bad destination path")
		}
	}
	return true, nil
}

// bytes reads a length-prefixed field of at most limit bytes.
func (d *opsDecoder) bytes(limit int) ([]byte, bool) {
	n, k := binary.Uvarint(d.b[d.off:])
	if k <= 0 || n > uint64(limit) || n > uint64(len(d.b)-d.off-k) {
		return nil, false
	}
	start := d.off + k
	d.off = start + int(n)
	return d.b[start:d.off:d.off], true
}

// path reads a bucket path into the decoder's slot i (reused per op).
func (d *opsDecoder) path(i int) ([][]byte, bool) {
	// Nesting has no limit but the record's size: a name takes at least
	// two bytes (its length and one byte).
	depth, k := binary.Uvarint(d.b[d.off:])
	if k <= 0 || depth > uint64(len(d.b)-d.off-k)/2 {
		return nil, false
	}
	d.off += k
	p := d.paths[i][:0]
	for range depth {
		name, ok := d.bytes(MaxKeySize)
		if !ok || len(name) == 0 {
			return nil, false
		}
		p = append(p, name)
	}
	d.paths[i] = p
	return p, true
}

// resolve opens the bucket at path in tx.
func (tx *Tx) resolve(path [][]byte) (*Bucket, error) {
	b := &tx.root
	for _, name := range path {
		c := b.Bucket(name)
		if c == nil {
			if tx.err != nil {
				return nil, tx.err
			}
			return nil, fmt.Errorf("bucket %s in %s not found", quoteKey(name), b.where())
		}
		b = c
	}
	return b, nil
}

// apply runs a replayed operation in tx (WAL recovery). It logged only
// operations that succeeded on the same state, so a failure here means
// the log does not belong to this file.
func (tx *Tx) apply(op *walOp) error {
	b, err := tx.resolve(op.path)
	if err != nil {
		return err
	}
	switch op.kind {
	case opPut:
		return b.Put(op.key, op.value)
	case opDelete:
		return b.Delete(op.key)
	case opCreate:
		_, err := b.CreateBucket(op.key)
		return err
	case opDrop:
		return b.DeleteBucket(op.key)
	case opSequence:
		return b.SetSequence(op.seq)
	case opMove:
		dst, err := tx.resolve(op.dst)
		if err != nil {
			return err
		}
		return b.MoveBucket(op.key, dst)
	}
	return fmt.Errorf("operation kind %d", op.kind)
}

// CheckLogRecord decodes a write-ahead-log record's payload as recovery
// would (every page image's checksum and header, every operation's
// fields) and returns its kind, "pages", "operations" or "anchor" (the
// file state the records after it follow, walanchor.go), and txid, or
// why it does not decode (an error wrapping ErrLogCorrupt, and so
// ErrCorrupt). For folio check.
func CheckLogRecord(payload []byte) (kind string, txid uint64, err error) {
	if len(payload) < 20 {
		return "", 0, fmt.Errorf("%w: %w: %d bytes", ErrLogCorrupt, errRecord, len(payload))
	}
	ps := int(binary.LittleEndian.Uint32(payload[16:]))
	if !page.ValidPageSize(ps) {
		return "", 0, fmt.Errorf("%w: %w: page size %d", ErrLogCorrupt, errRecord, ps)
	}
	if recordVersionOf(payload) == recordVersionAnchor {
		a, err := decodeAnchor(payload, ps)
		if err != nil {
			return "", 0, fmt.Errorf("%w: %w", ErrLogCorrupt, err)
		}
		return "anchor", uint64(a.txid), nil
	}
	if recordVersionOf(payload) == recordVersionOps {
		id, d, err := decodeOps(payload, ps)
		if err != nil {
			return "", 0, fmt.Errorf("%w: %w", ErrLogCorrupt, err)
		}
		var op walOp
		for {
			more, err := d.next(&op)
			if err != nil {
				return "", 0, fmt.Errorf("%w: %w", ErrLogCorrupt, err)
			}
			if !more {
				return "operations", uint64(id), nil
			}
		}
	}
	rec, err := decodeRecord(payload, ps)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrLogCorrupt, err)
	}
	return "pages", uint64(rec.meta.TxID), nil
}
