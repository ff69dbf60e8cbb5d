package tx

import (
	"runtime/debug"

	"github.com/foliodb/folio/page"
)

// growStep is how far the file grows past size bytes when it must grow:
// a small file doubles (a tiny database stays tiny), a large one grows
// by AllocSize.
func (db *DB) growStep(size int64) int64 {
	step := max(size, 64<<10)
	if alloc := int64(db.AllocSize); alloc > 0 && step > alloc {
		step = alloc
	}
	return step
}

// giveBackTail shrinks the file once more than two growth steps lie past
// the last page anything may read, to one step past it: a file that
// shrinks here is not grown again by the next few commits. Commit calls
// it once its meta is durable and published (a direct commit, or a
// checkpoint in WAL mode: between checkpoints recovery starts from the
// checkpoint's meta, which may reach further). Not synced, as Close's
// truncation is not: a crash leaves the longer file, whose tail is free.
// A failure is logged, not returned: the commit is durable already.
// REQUIRES: the write lock.
func (db *DB) giveBackTail() {
	// The head's mark is the lowest the limit can be: most commits stop
	// here, without the lock.
	if db.readOnly || !db.tailTooLong(db.head.meta.High) {
		return
	}
	db.mu.Lock()
	high := db.readableHighLocked()
	db.mu.Unlock()
	if !db.tailTooLong(high) {
		return
	}
	// NB: the head's view, not a new Map: the storage syncs through its
	// newest mapping, and a two-page one would make it fall back to
	// fdatasync. The head is published, so its view stays mapped.
	if high = max(high, otherMetaHigh(db.head.view.bytes, db.pageSize, db.metaSlot)); !db.tailTooLong(high) {
		return
	}
	ps := int64(db.pageSize)
	need := int64(high) * ps
	size := (need + db.growStep(need) + ps - 1) / ps * ps
	if size >= db.fileSize {
		return // a growth step under a page (AllocSize): nothing to cut
	}
	if err := db.st.Truncate(size); err != nil {
		db.logf("folio: %s: give back the file's free tail: %v", db.path, err)
		return
	}
	db.fileSize = size
}

// tailTooLong reports whether more than two growth steps of the file lie
// past page high.
func (db *DB) tailTooLong(high page.ID) bool {
	need := int64(high) * int64(db.pageSize)
	return db.fileSize-need > 2*db.growStep(need)
}

// readableHighLocked is the end of what readers and the head may read:
// the head's high water mark and every open snapshot's, whose WriteTo
// and Check read every page below their own mark, free ones included.
// The high water mark can fall (Commit gives back a free tail), so the
// head's is not always the highest. REQUIRES: db.mu.
func (db *DB) readableHighLocked() page.ID {
	high := db.head.meta.High
	if c := db.current.Load(); c != nil {
		high = max(high, c.meta.High)
	}
	db.pruneLocked()
	for _, s := range db.olds {
		high = max(high, s.meta.High)
	}
	for _, s := range db.handled { // OnCommit handlers read it
		high = max(high, s.meta.High)
	}
	return high
}

// mappedOtherMetaHigh is otherMetaHigh of the file, read through a
// mapping of the two meta pages of its own (at Close the head's view may
// be unmapped, its last reader gone). NB: under a fault guard: a file
// cut under the DB (by another process) made Close die of SIGBUS; the
// fault is an ErrCorrupt error naming the file.
func (db *DB) mappedOtherMetaHigh() (high page.ID, err error) {
	v, err := db.mapFile(int64(2 * db.pageSize))
	if err != nil {
		return 0, err
	}
	defer v.Close()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = faultError(db, r, " to close it"); err == nil {
				panic(r)
			}
		}
	}()
	return otherMetaHigh(v.Bytes(), db.pageSize, db.metaSlot), nil
}

// otherMetaHigh is the high water mark of the meta in the slot other
// than slot, in data (the file from its start, two pages at least), or 0
// if it does not decode. Open falls back to that meta if the newest is
// damaged, and refuses one reaching past the end of the file.
func otherMetaHigh(data []byte, ps, slot int) page.ID {
	other := 1 - slot
	if len(data) < 2*ps {
		return 0
	}
	m, err := page.DecodeMeta(data[other*ps:(other+1)*ps], page.ID(other))
	if err != nil {
		return 0
	}
	return m.High
}
