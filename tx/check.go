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
// WithPageId checks the tree under one page alone, WithKVStringer names
// keys in the problems (check_options.go).
//
// Unlike bbolt's, the check is done when Check returns, and the channel is
// buffered: a caller may stop reading at the first problem, or end the
// transaction, without leaving a goroutine blocked on a send forever or
// still reading a snapshot that was released (and, for View, a pooled Tx
// that was reused).
func (tx *Tx) Check(options ...CheckOption) <-chan error {
	var cfg checkConfig
	for _, o := range options {
		if o != nil {
			o(&cfg)
		}
	}
	problems := []error{ErrTxClosed}
	if tx.db != nil {
		problems = tx.check(cfg)
	}
	ch := make(chan error, len(problems))
	for _, err := range problems {
		ch <- err
	}
	close(ch)
	return ch
}

// maxProblems bounds the report for a file that is wholly garbage.
const maxProblems = 10000

func (tx *Tx) check(cfg checkConfig) (problems []error) {
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
	if cfg.pageID != 0 {
		tx.checkFrom(&r, cfg, report)
		return problems
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
		Key:     cfg.key,
	}, nil)
	tx.checkDirectory(&r, cfg, report)

	if m.Freelist == 0 {
		// Not persisted (NoFreelistSync, or a WAL-mode commit since the
		// last checkpoint): the free set is whatever is unreachable.
		return problems
	}
	p, exts, err := tx.freeExtents(&r)
	if p == nil {
		report(err)
		return problems
	}
	mark(m.Freelist, len(p)/r.pageSize, "freelist page")
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

// freeExtents returns the snapshot's persisted free list run and the
// free and pending extents it records (REQUIRES: m.Freelist != 0); a nil
// run if it cannot be read, the run and an error if it cannot be decoded.
func (tx *Tx) freeExtents(r *reader) ([]byte, []page.Extent, error) {
	m := tx.snap.meta
	p, err := r.Run(m.Freelist, page.FlagFreelist, m.FreelistSum)
	if err != nil {
		return nil, nil, err
	}
	exts, err := page.DecodeFreelist(p[page.HeaderSize:], m.Freelist, m.High)
	if err == nil {
		exts, err = page.ApplyFreeDelta(exts, m, page.ID(m.TxID%2))
	}
	return p, exts, err
}

// checkFrom checks the tree under page cfg.pageID alone (WithPageId), as
// bbolt's does: its pages' checksums and structure, key order, the
// buckets under it; no page accounting. A page that is no branch or leaf
// in use is one problem, ErrInvalidOptions (the file may be sound), as
// is an id out of [2, high), in bbolt's words.
//
// NB: no parent is read, so none says what checksum the page should
// have: its CRC is checked against the checksum its own header holds,
// and every page under it against its parent's, as the whole check does.
func (tx *Tx) checkFrom(r *reader, cfg checkConfig, report func(error)) {
	m := tx.snap.meta
	if cfg.pageID < 2 || cfg.pageID >= uint64(m.High) {
		report(fmt.Errorf("page %d: id out of range [2, %d): %w", cfg.pageID, m.High, ErrInvalidOptions))
		return
	}
	id := page.ID(cfg.pageID)
	notTree := func(what string) {
		report(fmt.Errorf("page %d: %s, not a branch or leaf page in use: %w", id, what, ErrInvalidOptions))
	}
	p := r.data[int(id)*r.pageSize : int(m.High)*r.pageSize]
	switch f := page.PageFlags(p); {
	case page.PageID(p) != id:
		notTree(fmt.Sprintf("its header names page %d (a page inside a run, or damaged)", page.PageID(p)))
		return
	case f != page.FlagBranch && f != page.FlagLeaf:
		notTree(fmt.Sprintf("a %s page (flags %#x)", f, uint16(f)))
		return
	}
	if what := tx.freeInSnapshot(r, id); what != "" {
		notTree(what)
		return
	}
	walkTrees(r, treeRef{h: page.BucketHeader{Root: id, RootSum: page.PageChecksum(p)}}, true, btree.Walker{
		Problem: report,
		MaxTxID: m.TxID,
		Key:     cfg.key,
	}, nil)
}

// freeInSnapshot says why page id is free in the snapshot, "" if it is
// not: on the free list the meta persisted, or, where it persisted none
// (NoFreelistSync, WAL mode) or that one cannot be read, reached from no
// tree.
//
// NB: a free page keeps the bytes it had, often a leaf's or a branch's
// that still read as sound: without this, checking from it found stale
// keys and no problem. (Rejected: the DB's free list, as Tx.Page reads
// it. It is the latest commit's, and a write transaction's own frees: a
// page this snapshot still uses would be called free.) The walk reads
// the headers of every tree, without their CRC (a damaged page is the
// whole check's to report).
func (tx *Tx) freeInSnapshot(r *reader, id page.ID) string {
	m := tx.snap.meta
	if m.Freelist != 0 {
		if _, exts, err := tx.freeExtents(r); err == nil {
			for _, e := range exts {
				if id >= e.Start && uint64(id-e.Start) < e.Len {
					return "free (on the free list)"
				}
			}
			return ""
		}
	}
	head := *r
	head.verify = false
	reached := false
	walkTrees(&head, treeRef{h: page.BucketHeader{Root: m.Root, RootSum: m.RootSum}}, false, btree.Walker{
		Page: func(p page.ID, _ int, kind page.Flags, _ int) {
			if p == id && kind&(page.FlagBranch|page.FlagLeaf) != 0 {
				reached = true
			}
		},
		Problem: func(error) {},
	}, nil)
	if reached {
		return ""
	}
	return "free (reached from no tree)"
}

// checkDirectory checks that the top level holds only buckets.
//
// NB: a walk, not a cursor: a cursor reads every path through branches
// that repeat a child. Its other problems are walkTrees' to report.
func (tx *Tx) checkDirectory(r *reader, cfg checkConfig, report func(error)) {
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
				report(page.Corruptf(leaf, fmt.Sprintf("top-level key %s is not a bucket", cfg.keyString(key)), "", ""))
				return
			}
			if _, err := page.DecodeBucketHeader(stored, leaf); err != nil {
				report(err)
			}
		},
		Seen: btree.NewPageSet(m.High),
	})
}
