package freelist

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/foliodb/folio/page"
)

// The delta a List tracks, applied to the base it started from, gives
// the set the List would persist, after every operation of a random
// mix of allocations, frees, releases, tail trims and clones, and across
// restarts of the tracking (a commit writing a new base).
func TestDeltaTracksPersistedSet(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		l := New()
		high := page.ID(2)
		var base []page.Extent
		baseHigh := high
		restart := func() {
			base, baseHigh = l.Extents(), high
			l.TrackDelta(page.FreeDelta{}, 1<<20)
		}
		restart()
		var tx page.TxID = 1
		var owned []page.Extent // allocated pages, to free later
		for op := range 600 {
			switch k := r.IntN(10); {
			case k < 4:
				n := 1 + r.IntN(3)
				id, ok := l.Allocate(n)
				if !ok {
					id = high
					high += page.ID(n)
				}
				owned = append(owned, page.Extent{Start: id, Len: uint64(n)})
			case k < 7 && len(owned) > 0:
				i := r.IntN(len(owned))
				e := owned[i]
				owned = slices.Delete(owned, i, i+1)
				l.Free(tx, e.Start, int(e.Len))
			case k < 8:
				l.Release(tx)
				tx++
			case k < 9:
				high = l.TrimTail(high)
			default:
				l = l.Clone()
				if r.IntN(4) == 0 {
					restart()
				}
			}
			if high < baseHigh {
				// A commit keeps no base above its high water mark
				// (tx.freeDelta): it writes a new one.
				restart()
			}
			d, ok := l.Delta(1 << 20)
			if !ok {
				t.Fatalf("seed %d op %d: delta not tracked", seed, op)
			}
			enc := d.Encode()
			m := page.Meta{Freelist: 2, High: high, FreeDelta: enc}
			got, err := page.ApplyFreeDelta(base, m, 0)
			if err != nil {
				t.Fatalf("seed %d op %d: %v", seed, op, err)
			}
			if want := l.Extents(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("seed %d op %d: base+delta = %v, the list persists %v (delta %+v)", seed, op, got, want, d)
			}
		}
	}
}

// A delta past what the meta page can hold is not offered, and one past
// TrackDelta's bound is given up for good until the next base.
func TestDeltaLimits(t *testing.T) {
	l := New()
	l.TrackDelta(page.FreeDelta{}, 1000) // given up past 500 extents
	for i := range 100 {
		l.Free(1, page.ID(2+2*i), 1) // 100 separate extents added
	}
	if _, ok := l.Delta(1000); !ok {
		t.Fatal("a 100-extent delta was not offered with room for it")
	}
	if d, ok := l.Delta(64); ok {
		t.Fatalf("a delta of %d bytes was offered for 64", d.Size())
	}
	for i := range 401 {
		l.Free(1, page.ID(1000+2*i), 1)
	}
	if _, ok := l.Delta(1 << 30); ok {
		t.Fatal("a delta past TrackDelta's bound was offered")
	}
	if l.delta.extents != 0 || l.delta.taken.Len()+l.delta.added.Len() != 0 {
		t.Fatalf("a delta given up keeps %d extents", l.delta.extents)
	}
	l.TrackDelta(page.FreeDelta{}, 1000)
	if d, ok := l.Delta(64); !ok || !d.Empty() {
		t.Fatalf("after a restart: %+v, %v; want an empty delta", d, ok)
	}
	if New().delta != nil {
		t.Fatal("a new List tracks a delta")
	}
	if _, ok := New().Delta(1 << 20); ok {
		t.Fatal("an untracked List offered a delta")
	}
}
