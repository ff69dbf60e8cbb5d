package freelist

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func lessInt(a, b int) bool { return a < b }

// setModel checks a set of ints against a sorted slice after each change.
type setModel struct {
	t    *testing.T
	s    *set[int]
	want []int
}

func (m *setModel) check(what string) {
	m.t.Helper()
	if err := m.s.verify(); err != nil {
		m.t.Fatalf("after %s: %v", what, err)
	}
	var got []int
	m.s.Ascend(func(v int) bool { got = append(got, v); return true })
	if !slices.Equal(got, m.want) || m.s.Len() != len(m.want) {
		m.t.Fatalf("after %s: set %v (Len %d), want %v", what, got, m.s.Len(), m.want)
	}
	lo, okLo := m.s.Min()
	hi, okHi := m.s.Max()
	if okLo != (len(m.want) > 0) || okHi != okLo || okLo && (lo != m.want[0] || hi != m.want[len(m.want)-1]) {
		m.t.Fatalf("after %s: Min %d, %v, Max %d, %v; want %v", what, lo, okLo, hi, okHi, m.want)
	}
}

// step applies one random operation to the set and the slice.
func (m *setModel) step(rng *rand.Rand) string {
	k := rng.IntN(200)
	i, found := slices.BinarySearch(m.want, k)
	switch op := rng.IntN(10); {
	case op < 4:
		m.s.ReplaceOrInsert(k)
		if !found {
			m.want = slices.Insert(m.want, i, k)
		}
		return fmt.Sprintf("ReplaceOrInsert(%d)", k)
	case op < 7:
		if got := m.s.Delete(k); got != found {
			m.t.Fatalf("Delete(%d) = %v, want %v", k, got, found)
		}
		if found {
			m.want = slices.Delete(m.want, i, i+1)
		}
		return fmt.Sprintf("Delete(%d)", k)
	case op < 8:
		n := rng.IntN(len(m.want) + 1)
		m.s.deleteFront(n)
		m.want = m.want[n:]
		return fmt.Sprintf("deleteFront(%d)", n)
	default:
		// Lookups, and setAt with a value that keeps the order.
		p := m.s.search(k)
		v, ok := m.s.at(p)
		if ok != (i < len(m.want)) || ok && v != m.want[i] {
			m.t.Fatalf("at(search(%d)) = %d, %v; want index %d of %v", k, v, ok, i, m.want)
		}
		if got, ok := m.s.Get(k); ok != found || ok && got != k || m.s.Has(k) != found {
			m.t.Fatalf("Get(%d) = %d, %v; want found=%v", k, got, ok, found)
		}
		b, ok := m.s.before(p)
		if ok != (i > 0) {
			m.t.Fatalf("before(search(%d)): ok=%v, want %v", k, ok, i > 0)
		}
		if ok {
			if v, _ := m.s.at(b); v != m.want[i-1] {
				m.t.Fatalf("before(search(%d)) = %d, want %d", k, v, m.want[i-1])
			}
			if lo := m.want[i-1]; i == len(m.want) || m.want[i] > lo+1 {
				m.s.setAt(b, lo+1) // still between its neighbours
				m.want[i-1] = lo + 1
				return fmt.Sprintf("setAt(%d -> %d)", lo, lo+1)
			}
		}
		return fmt.Sprintf("lookups of %d", k)
	}
}

// TestSetRandomized compares sets (and clones of them, changed on both
// sides) with sorted slices under random operations.
func TestSetRandomized(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	for _, c := range []int{2, 3, 8, chunkMax} {
		for _, s := range []uint64{1, 2, seed} {
			t.Run(fmt.Sprintf("chunk=%d/seed=%d", c, s), func(t *testing.T) {
				defer func(old int) { chunkMax = old }(chunkMax)
				chunkMax = c
				rng := rand.New(rand.NewPCG(s, s))
				models := []*setModel{{t: t, s: newSet(lessInt)}}
				for op := range 20000 {
					m := models[rng.IntN(len(models))]
					if rng.IntN(100) == 0 && len(models) < 6 {
						// A clone, then each side goes its own way; the
						// checks of every model after each step catch a
						// change that reached the other side.
						models = append(models, &setModel{t: t, s: m.s.clone(), want: slices.Clone(m.want)})
					}
					if rng.IntN(300) == 0 && len(models) > 1 {
						models = slices.Delete(models, 0, 1)
					}
					what := m.step(rng)
					for _, m := range models {
						m.check(fmt.Sprintf("op %d, %s", op, what))
					}
				}
			})
		}
	}
}
