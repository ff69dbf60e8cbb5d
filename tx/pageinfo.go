package tx

import (
	"fmt"
	"runtime/debug"

	"github.com/foliodb/folio/page"
)

// PageInfo describes a page of the file (bbolt's type; Tx.Page).
type PageInfo struct {
	ID            int
	Type          string
	Count         int // elements on a branch or leaf page
	OverflowCount int // pages in its run after this one
}

// Page describes page id of the file as this transaction sees it, from
// the page's header alone, as bbolt's does. Its Type is one of:
//
//   - "meta": pages 0 and 1;
//   - "free": on the free list, free or pending (freed, but still
//     visible to a reader); Count and OverflowCount are then 0 (its
//     bytes are stale: the run they named may have been cut up);
//   - "branch", "leaf", "freelist": as bbolt's; "large": the first page
//     of a run holding a large value (folio's; bbolt keeps those in
//     leaf runs);
//   - "unknown": a page whose header does not name it, which is a page
//     inside a run (step over runs by OverflowCount, as bbolt's pages
//     command does) or a damaged one; "unknown<xx>" for a header that
//     names it with a kind the format does not have, as bbolt says.
//
// The free list is the write transaction's own, or for a read
// transaction the database's as of the call (as bbolt's): a page a later
// commit freed shows "free" to an older reader, and one it reused shows
// what it holds now.
//
// It returns nil, nil for an id past the end of the file (or negative),
// as bbolt's, and ErrTxClosed once the transaction ended. It reads
// nothing but the header and never panics on what it finds; a file cut
// under the mapping (by another process) is ErrCorrupt naming the file
// and the page.
func (tx *Tx) Page(id int) (info *PageInfo, err error) {
	if tx.db == nil {
		return nil, ErrTxClosed
	}
	if id < 0 || uint64(id) >= uint64(tx.r.high) {
		return nil, nil
	}
	pid := page.ID(id)
	info = &PageInfo{ID: id}
	if pid >= 2 && tx.pageFree(pid) {
		info.Type = "free"
		return info, nil
	}
	db := tx.db
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = faultError(db, r, fmt.Sprintf(" for page %d", id)); err == nil {
				panic(r)
			}
			info = nil
		}
	}()
	p := tx.r.data[id*tx.r.pageSize:]
	if page.PageID(p) != pid {
		info.Type = "unknown"
		return info, nil
	}
	switch f := page.PageFlags(p); f {
	case page.FlagMeta, page.FlagBranch, page.FlagLeaf, page.FlagLarge, page.FlagFreelist:
		info.Type = f.String()
	default:
		info.Type = fmt.Sprintf("unknown<%02x>", uint16(f))
	}
	info.Count, info.OverflowCount = page.PageCount(p), int(page.PageOverflow(p))
	return info, nil
}

// pageFree reports whether page id is on the free list this transaction
// sees (Page): free or pending, or held for the checkpoint (WAL mode).
func (tx *Tx) pageFree(id page.ID) bool {
	if tx.writable {
		// Pages past tx.high are the free tail Begin took off the list.
		return id >= tx.high || tx.freelist.Conflict(id, 1) != "" || (tx.held != nil && tx.held.Conflict(id, 1) != "")
	}
	db := tx.db
	db.mu.Lock()
	defer db.mu.Unlock()
	return (db.freelist != nil && db.freelist.Conflict(id, 1) != "") || (db.wal.held != nil && db.wal.held.Conflict(id, 1) != "")
}
