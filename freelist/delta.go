package freelist

import (
	"github.com/google/btree"

	"github.com/foliodb/folio/page"
)

// delta tracks how the set a commit persists (free ∪ pending, S) has
// changed since a base: S = (base − taken) ∪ added, with taken inside the
// base and added outside it (page.FreeDelta). A page entering S was in
// the base only if it left since, so it leaves taken if there, else joins
// added; a page leaving S leaves added if there, else joins taken. Both
// sets stay canonical (merged, never adjacent), which is what the meta
// page's encoding wants, and small: a commit persists the delta only
// while it fits in its meta page, and writes a new base otherwise.
type delta struct {
	taken, added *btree.BTreeG[page.Extent] // by start
	extents      int                        // taken.Len() + added.Len()
	// Past limit extents the delta is given up (over): no meta page
	// could hold it, and tracking it further would cost a large
	// transaction (a random load's) for nothing.
	limit int
	over  bool
}

func newDelta(limit int) *delta {
	return &delta{taken: btree.NewG(degree, lessStart), added: btree.NewG(degree, lessStart), limit: limit}
}

func (d *delta) clone() *delta {
	return &delta{taken: d.taken.Clone(), added: d.added.Clone(), extents: d.extents, limit: d.limit, over: d.over}
}

// enter records that e joined S.
func (d *delta) enter(e page.Extent) {
	if d.over {
		return
	}
	d.move(d.taken, d.added, e)
}

// leave records that e left S.
func (d *delta) leave(e page.Extent) {
	if d.over {
		return
	}
	d.move(d.added, d.taken, e)
}

// move removes e's pages from from where it holds them, and adds the
// rest of e to to. Each extent of from that e overlaps is looked up
// anew (its neighbours change as it goes), which allocates nothing: this
// runs for every page run a tracked commit allocates or frees.
func (d *delta) move(from, to *btree.BTreeG[page.Extent], e page.Extent) {
	at := e.Start // e's pages before at are done
	for at < end(e) {
		f, ok := floor(from, page.Extent{Start: at})
		if !ok || end(f) <= at {
			if f, ok = ceil(from, page.Extent{Start: at}); !ok || f.Start >= end(e) {
				break
			}
		}
		from.Delete(f)
		d.extents--
		if f.Start < at {
			d.insert(from, page.Extent{Start: f.Start, Len: uint64(at - f.Start)})
		}
		if end(f) > end(e) {
			d.insert(from, page.Extent{Start: end(e), Len: uint64(end(f) - end(e))})
		}
		if f.Start > at {
			d.insert(to, page.Extent{Start: at, Len: uint64(f.Start - at)})
		}
		at = min(end(f), end(e))
	}
	if at < end(e) {
		d.insert(to, page.Extent{Start: at, Len: uint64(end(e) - at)})
	}
	if d.extents > d.limit {
		d.over = true
		d.taken.Clear(false)
		d.added.Clear(false)
		d.extents = 0
	}
}

// insert adds e, which overlaps nothing in t, merged with its neighbours.
func (d *delta) insert(t *btree.BTreeG[page.Extent], e page.Extent) {
	if prev, ok := floor(t, page.Extent{Start: e.Start - 1}); ok && end(prev) == e.Start {
		t.Delete(prev)
		d.extents--
		e = page.Extent{Start: prev.Start, Len: prev.Len + e.Len}
	}
	if next, ok := t.Get(page.Extent{Start: end(e)}); ok {
		t.Delete(next)
		d.extents--
		e.Len += next.Len
	}
	t.ReplaceOrInsert(e)
	d.extents++
}

func extentsOf(t *btree.BTreeG[page.Extent]) []page.Extent {
	out := make([]page.Extent, 0, t.Len())
	t.Ascend(func(e page.Extent) bool { out = append(out, e); return true })
	return out
}

// TrackDelta starts (or restarts) recording how the persisted set
// changes, from d: the delta of the meta whose base the next commits
// keep. A commit that writes a new base calls it with an empty d. Past
// maxBytes encoded (at least two bytes an extent) the delta is given up
// until the next call: Delta no longer offers it.
func (l *List) TrackDelta(d page.FreeDelta, maxBytes int) {
	l.delta = newDelta(maxBytes / 2)
	for _, e := range d.Taken {
		l.delta.insert(l.delta.taken, e)
	}
	for _, e := range d.Added {
		l.delta.insert(l.delta.added, e)
	}
}

// Delta returns how the persisted set differs from the base since
// TrackDelta, if it is tracked and no larger than maxBytes encoded.
func (l *List) Delta(maxBytes int) (page.FreeDelta, bool) {
	d := l.delta
	// Two bytes at least per extent, one per count.
	if d == nil || d.over || 2*d.extents+2 > maxBytes {
		return page.FreeDelta{}, false
	}
	fd := page.FreeDelta{Taken: extentsOf(d.taken), Added: extentsOf(d.added)}
	if fd.Size() > maxBytes {
		return page.FreeDelta{}, false
	}
	return fd, true
}
