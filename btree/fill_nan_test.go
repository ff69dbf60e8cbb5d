package btree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestFillNaN: a Fill or AppendFill of NaN passed the range clamp (every
// comparison with NaN is false), and int(NaN * page size) cut each split
// after one element: a page a key. NaN now splits as the default does.
func TestFillNaN(t *testing.T) {
	pagesFor := func(fill, appendFill float64, random bool) int {
		m := newMemPages(1024)
		tr := New(m, 0, 0)
		tr.Fill, tr.AppendFill = fill, appendFill
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 2000 {
			k := i
			if random {
				k = rng.IntN(1 << 30)
			}
			key := fmt.Appendf(nil, "k%010d", k)
			if err := tr.Put(key, []byte("value"), 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		commitTree(t, tr, m)
		root, sum := tr.Root()
		pages := 0
		New(m, root, sum).Walk(true, Walker{
			Page:    func(id page.ID, n int, kind page.Flags, depth int) { pages += n },
			Problem: func(err error) { t.Fatalf("walk: %v", err) },
		})
		return pages
	}
	for _, random := range []bool{false, true} {
		want := pagesFor(DefaultFill, DefaultAppendFill, random)
		got := pagesFor(math.NaN(), math.NaN(), random)
		if got != want {
			t.Errorf("random=%v: Fill and AppendFill NaN made %d pages, the defaults %d", random, got, want)
		}
	}
}
