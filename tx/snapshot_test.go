package tx

import (
	"sync"
	"testing"
)

// A reader's stripe is in range, the same for every transaction its
// goroutine begins from the same place, and goroutines alive at once
// spread over the stripes rather than share one. (They must be alive at
// once: a new goroutine may reuse the stack of one that ended.)
func TestReaderStripe(t *testing.T) {
	const goroutines = 64
	seen := make([]int, goroutines)
	var wg, alive sync.WaitGroup
	alive.Add(goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alive.Done()
			alive.Wait()
			first := readerStripe()
			for range 100 {
				if s := readerStripe(); s != first {
					t.Errorf("goroutine %d: stripe %d, then %d", g, first, s)
					return
				}
			}
			if first < 0 || first >= stripes {
				t.Errorf("goroutine %d: stripe %d out of [0, %d)", g, first, stripes)
			}
			seen[g] = first
		}()
	}
	wg.Wait()
	used := map[int]bool{}
	for _, s := range seen {
		used[s] = true
	}
	// 64 goroutines over 16 stripes leave fewer than 8 used with
	// vanishing odds if stacks hash well.
	if len(used) < stripes/2 {
		t.Errorf("%d goroutines used only %d of %d stripes: %v", goroutines, len(used), stripes, seen)
	}
}
