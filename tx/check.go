package tx

import (
	"fmt"
	"runtime/debug"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
)

// Check verifies the database as this transaction's snapshot holds it and
// returns a closed channel holding every problem found. Check reads
// everything and recomputes every checksum:
//
//   - every page's CRC-32C, and the checksum each parent expects of it
//     (a lost or misdirected write);
//   - key order in every page, keys within their parent's separators, all
//     leaves at one depth, large-value runs and bucket headers;
//   - page accounting: reachable pages, free and pending extents (as the
//     snapshot's persisted free list records them) partition the file,
//     no page is reachable twice, none is both reachable and free, none
//     is neither (leaked).
//
// A write transaction's own uncommitted changes are not checked.
//
// Unlike bbolt's, the check is done when Check returns, and the channel is
// buffered: a caller may stop reading at the first problem, or end the
// transaction, without leaving a goroutine blocked on a send forever or
// still reading a snapshot that was released (and, for View, a pooled Tx
// that was reused).
func (tx *Tx) Check(options ...CheckOption) <-chan error {
	problems := []error{ErrTxClosed}
	if tx.db != nil {
		problems = tx.check()
	}
	ch := make(chan error, len(problems))
	for _, err := range problems {
		ch <- err
	}
	close(ch)
	return ch
}

// CheckOption is accepted for bbolt compatibility; folio's Check always
// checks everything.
type CheckOption func(*checkConfig)

type checkConfig struct{}

// maxProblems bounds the report for a file that is wholly garbage.
const maxProblems = 10000

func (tx *Tx) check() (problems []error) {
	// NB: a Tx from Begin is not covered by the SetPanicOnFault of View:
	// a fault reading the mapping (the file was truncated underneath it)
	// would kill the process. Report it instead, after whatever was found
	// before it.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err := faultError(tx.db, r, " to check it")
			if err == nil {
				panic(r)
			}
			problems = append(problems, err)
		}
	}()
	m := tx.snap.meta
	r := tx.r
	r.verify = true
	report := func(err error) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Errorf("folio: check %s: %w", tx.db.path, err))
		}
	}
	// owner[id] says what holds page id: 0 nothing yet.
	const (
		none = iota
		reachable
		free
	)
	owner := make([]uint8, m.High)
	owner[0], owner[1] = reachable, reachable
	mark := func(id page.ID, n int, what string) {
		for i := 0; i < n; i++ {
			p := id + page.ID(i)
			if p >= m.High {
				report(page.Corruptf(id, what, fmt.Sprintf("pages below %d", m.High), fmt.Sprintf("run to %d", id+page.ID(n))))
				return
			}
			if owner[p] == reachable {
				report(page.Corruptf(p, what, "page reachable once", "reachable twice"))
				continue
			}
			owner[p] = reachable
		}
	}
	walkTrees(&r, treeRef{h: page.BucketHeader{Root: m.Root, RootSum: m.RootSum}}, true, btree.Walker{
		Page:    func(id page.ID, n int, kind page.Flags, _ int) { mark(id, n, kind.String()+" page") },
		Problem: report,
		MaxTxID: m.TxID,
	}, nil)
	tx.checkDirectory(&r, report)

	if m.Freelist == 0 {
		// Not persisted (NoFreelistSync, or a WAL-mode commit since the
		// last checkpoint): the free set is whatever is unreachable.
		return problems
	}
	p, err := r.Run(m.Freelist, page.FlagFreelist, m.FreelistSum)
	if err != nil {
		report(err)
		return problems
	}
	mark(m.Freelist, len(p)/r.pageSize, "freelist page")
	exts, err := page.DecodeFreelist(p[page.HeaderSize:], m.Freelist, m.High)
	if err == nil {
		exts, err = page.ApplyFreeDelta(exts, m, page.ID(m.TxID%2))
	}
	if err != nil {
		report(err)
		return problems
	}
	for _, e := range exts {
		for i := uint64(0); i < e.Len; i++ {
			id := e.Start + page.ID(i)
			// The freelist persisted by commit T lists, as pending, the
			// pages T itself freed, including T's previous freelist run:
			// those are free in the file image, not reachable.
			if owner[id] == reachable {
				report(page.Corruptf(id, "page accounting", "free or reachable", "both (on the free list and in use)"))
				continue
			}
			owner[id] = free
		}
	}
	unreached := "leaked"
	if len(problems) > 0 {
		unreached = "leaked, or referenced only from a damaged page"
	}
	for id := page.ID(2); id < m.High; id++ {
		if owner[id] == none {
			start := id
			for id+1 < m.High && owner[id+1] == none {
				id++
			}
			report(page.Corruptf(start, "page accounting", "reachable, free or pending",
				fmt.Sprintf("none of them for pages %d..%d (%s)", start, id, unreached)))
		}
	}
	return problems
}

// checkDirectory checks that the top level holds only buckets.
//
// NB: a walk, not a cursor: a cursor reads every path through branches
// that repeat a child. Its other problems are walkTrees' to report.
func (tx *Tx) checkDirectory(r *reader, report func(error)) {
	m := tx.snap.meta
	if m.Root == 0 {
		return
	}
	// leaf is the page whose elements Elem is given (Walk calls Page for
	// a run before its elements), for the problems to name it.
	var leaf page.ID
	btree.New(r, m.Root, m.RootSum).Walk(false, btree.Walker{
		Page: func(id page.ID, _ int, kind page.Flags, _ int) {
			if kind == page.FlagLeaf {
				leaf = id
			}
		},
		Elem: func(key, stored []byte, flags uint32) {
			if flags&page.LeafBucket == 0 {
				report(page.Corruptf(leaf, fmt.Sprintf("top-level key %q is not a bucket", key), "", ""))
				return
			}
			if _, err := page.DecodeBucketHeader(stored, leaf); err != nil {
				report(err)
			}
		},
		Seen: btree.NewPageSet(m.High),
	})
}
