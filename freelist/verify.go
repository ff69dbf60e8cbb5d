package freelist

import (
	"fmt"

	"github.com/foliodb/folio/page"
)

// verifyLimit bounds the lists that checkInvariants verifies after each
// mutation. Verify walks the whole list, O(n log n); after every mutation
// of a large, fragmented list (a -race run of a big tx test) that turns the
// run quadratic. The logic is the same at any size, and the randomized test
// here exercises it on lists below the limit after every operation.
const verifyLimit = 1 << 10

// checkInvariants runs Verify after a mutation in invariant builds (the
// invariants tag, or -race) and compiles to nothing otherwise. A failure is
// a bug in this package, so it panics.
func (l *List) checkInvariants() {
	if !page.Invariants || l.ExtentCount() > verifyLimit {
		return
	}
	if err := l.Verify(); err != nil {
		panic(err)
	}
}

// Verify checks the List's invariants (see the package comment) and
// returns an error describing the first one broken, or nil. It walks
// everything, O(n log n); tests call it after every operation, and Tx.Check
// may call it before checking the extents against the reachable pages.
func (l *List) Verify() error {
	var (
		err   error
		prev  page.Extent
		n     int
		pages uint64
	)
	l.free.Ascend(func(e page.Extent) bool {
		switch {
		case e.Len == 0 || e.Start < metaPages || end(e) < e.Start:
			err = fmt.Errorf("folio/freelist: free extent [%d, +%d) is not a run of data pages (invariant 1)", e.Start, e.Len)
		case n > 0 && e.Start < end(prev):
			err = fmt.Errorf("folio/freelist: free extents [%d, +%d) and [%d, +%d) overlap (invariant 2)",
				prev.Start, prev.Len, e.Start, e.Len)
		case n > 0 && e.Start == end(prev):
			err = fmt.Errorf("folio/freelist: free extents [%d, +%d) and [%d, +%d) are adjacent, not merged (invariant 2)",
				prev.Start, prev.Len, e.Start, e.Len)
		case !l.sizes.Has(e): // the size tree's key is the whole extent
			err = fmt.Errorf("folio/freelist: free extent [%d, +%d) is missing from the size tree (invariant 3)", e.Start, e.Len)
		}
		prev, n, pages = e, n+1, pages+e.Len
		return err == nil
	})
	if err != nil {
		return err
	}
	// Every extent by start is in the size tree, and both hold distinct
	// items, so equal sizes mean equal sets.
	if n != l.sizes.Len() {
		return fmt.Errorf("folio/freelist: %d free extents by start, %d by size (invariant 3)", n, l.sizes.Len())
	}
	if pages != l.freePages {
		return fmt.Errorf("folio/freelist: free extents hold %d pages, FreeCount says %d (invariant 6)", pages, l.freePages)
	}

	var prevP pendingExt
	n, pages = 0, 0
	l.pending.Ascend(func(p pendingExt) bool {
		e := p.Extent
		switch {
		case e.Len == 0 || e.Start < metaPages || end(e) < e.Start:
			err = fmt.Errorf("folio/freelist: pending extent [%d, +%d) of tx %d is not a run of data pages (invariant 1)",
				e.Start, e.Len, p.tx)
		case n > 0 && e.Start < end(prevP.Extent):
			err = fmt.Errorf("folio/freelist: pending extents [%d, +%d) and [%d, +%d) overlap (invariant 4)",
				prevP.Start, prevP.Len, e.Start, e.Len)
		case n > 0 && e.Start == end(prevP.Extent) && p.tx == prevP.tx:
			err = fmt.Errorf("folio/freelist: pending extents [%d, +%d) and [%d, +%d) of tx %d are adjacent, not merged (invariant 4)",
				prevP.Start, prevP.Len, e.Start, e.Len, p.tx)
		}
		if err == nil {
			if f, ok := floor(l.free, page.Extent{Start: end(e) - 1}); ok && end(f) > e.Start {
				err = fmt.Errorf("folio/freelist: pending extent [%d, +%d) of tx %d overlaps free extent [%d, +%d) (invariant 4)",
					e.Start, e.Len, p.tx, f.Start, f.Len)
			} else if q, ok := l.byTx.Get(p); !ok || q != p {
				// Get matches on (tx, start) only, hence the compare.
				err = fmt.Errorf("folio/freelist: pending extent [%d, +%d) of tx %d is missing from the txid tree (invariant 5)",
					e.Start, e.Len, p.tx)
			}
		}
		prevP, n, pages = p, n+1, pages+e.Len
		return err == nil
	})
	if err != nil {
		return err
	}
	if n != l.byTx.Len() {
		return fmt.Errorf("folio/freelist: %d pending extents by start, %d by txid (invariant 5)", n, l.byTx.Len())
	}
	if pages != l.pendingPages {
		return fmt.Errorf("folio/freelist: pending extents hold %d pages, PendingCount says %d (invariant 6)", pages, l.pendingPages)
	}
	return nil
}
