package freelist

import (
	"math"
	"slices"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestAllocateRecentEdges: the window arithmetic of allocateRecent at
// both ends of the id space, and the stack's bound.
func TestAllocateRecentEdges(t *testing.T) {
	// drain allocates one page at a time until none is free, checking
	// that each was free, that ExtentCount never rises, and returns the
	// pages in the order they came.
	drain := func(t *testing.T, l *List) []page.ID {
		t.Helper()
		free := map[page.ID]bool{}
		l.ForEachFree(func(e page.Extent) {
			for i := range e.Len {
				free[e.Start+page.ID(i)] = true
			}
		})
		var got []page.ID
		for len(free) > 0 {
			count := l.ExtentCount()
			id, ok := l.Allocate(1)
			if !ok || !free[id] {
				t.Fatalf("Allocate(1) #%d = %d, %v: not a free page", len(got)+1, id, ok)
			}
			mustVerify(t, l)
			if l.ExtentCount() > count {
				t.Fatalf("Allocate(1) #%d raised ExtentCount from %d to %d", len(got)+1, count, l.ExtentCount())
			}
			delete(free, id)
			got = append(got, id)
		}
		if id, ok := l.Allocate(1); ok {
			t.Fatalf("Allocate(1) = %d with no page free", id)
		}
		return got
	}

	t.Run("window 0", func(t *testing.T) {
		// Pages 2-15 share their window (lo = 0) with the meta pages;
		// 2 joins [3, 5).
		l := load(x(3, 2), x(20, 1))
		l.Free(1, 2, 1)
		l.Release(1)
		if got, want := drain(t, l), []page.ID{2, 3, 4, 20}; !slices.Equal(got, want) {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	})
	t.Run("top of the id space", func(t *testing.T) {
		// Free extents end at most at MaxUint64 (invariant 1): the last
		// window's end, lo+window, wraps to 0. Placement there may fall
		// back to best fit; every page handed out must still be free.
		const top = page.ID(math.MaxUint64)
		l := load(x(100, 1), x(top-30, 28))
		l.Free(1, top-2, 1) // joins [top-30, top-2)
		l.Free(1, top-40, 4)
		l.Release(1)
		if got := drain(t, l); len(got) != 1+29+4 {
			t.Fatalf("allocated %d pages, want %d", len(got), 1+29+4)
		}
	})
	t.Run("oldest beyond recentCap dropped", func(t *testing.T) {
		// recentCap+1 single pages released in windows of their own,
		// oldest first; the oldest (16) has fallen off the stack, so
		// once the newest recentCap windows are used, best fit takes
		// 10, the lowest single free page, before 16.
		l := load(x(10, 1))
		for i := range recentCap + 1 {
			l.Free(page.TxID(i+1), page.ID(32*i+16), 1)
		}
		l.Release(recentCap + 1)
		var want []page.ID
		for i := recentCap; i >= 1; i-- {
			want = append(want, page.ID(32*i+16))
		}
		want = append(want, 10, 16)
		if got := drain(t, l); !slices.Equal(got, want) {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	})
}
