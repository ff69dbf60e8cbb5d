package btree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// refLeafSearch and refBranchSearch are plain binary searches over the
// keys, with no hints.
func refLeafSearch(p []byte, count int, key []byte) (int, bool) {
	lo, hi := 0, count
	for lo < hi {
		m := (lo + hi) / 2
		k, _ := page.LeafKey(p, m)
		switch c := bytes.Compare(k, key); {
		case c < 0:
			lo = m + 1
		case c == 0:
			return m, true
		default:
			hi = m
		}
	}
	return lo, false
}

func refBranchSearch(p []byte, count int, key []byte) int {
	lo, hi := 0, count
	for lo < hi {
		m := (lo + hi) / 2
		if k, _ := page.BranchKey(p, m); bytes.Compare(k, key) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// searchKey makes keys whose hints often tie: short ones (zero padded),
// ones sharing 8 or more leading bytes, and random ones.
func searchKey(rng *rand.Rand) []byte {
	switch rng.IntN(4) {
	case 0:
		return []byte(fmt.Sprintf("%d", rng.IntN(300))) // under 8 bytes
	case 1:
		return []byte(fmt.Sprintf("tenant-7/user-%d", rng.IntN(3000))) // one hint
	case 2:
		return []byte(fmt.Sprintf("tenant-%d/%d", rng.IntN(3), rng.IntN(50)))
	default:
		k := make([]byte, 1+rng.IntN(20))
		for i := range k {
			k[i] = byte(rng.IntN(4)) // few distinct bytes: prefixes repeat
		}
		return k
	}
}

// The searches over hints answer as plain searches of the keys do, on every
// page of trees whose keys tie on their hints in runs of every length,
// for keys present, absent, and beyond either end.
func TestSearchMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 11))
	leaves, branches, ties := 0, 0, 0
	for round := range 20 {
		m := newMemPages([]int{512, 1024, 4096}[round%3])
		tr := New(m, 0, 0)
		for i := 200 + rng.IntN(3000); i > 0; i-- {
			if err := tr.Put(searchKey(rng), []byte("v"), 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		commitTree(t, tr, m)
		type run struct {
			id page.ID
			n  int
		}
		var runs []run
		tr.Walk(true, Walker{
			Page: func(id page.ID, n int, kind page.Flags, _ int) {
				if kind != page.FlagLarge {
					runs = append(runs, run{id, n})
				}
			},
			Problem: func(err error) { t.Fatal(err) },
		})
		for _, r := range runs {
			id := r.id
			p := m.file[int(id)*m.ps : (int(id)+r.n)*m.ps]
			leaf := page.PageFlags(p) == page.FlagLeaf
			elemSize := page.BranchElemSize
			if leaf {
				elemSize = page.LeafElemSize
				leaves++
			} else {
				branches++
			}
			count, err := page.CheckElems(p, id, elemSize)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < count; i++ {
				if page.Hint(p, i) == page.Hint(p, i-1) {
					ties++
				}
			}
			probes := [][]byte{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
			for range 50 {
				probes = append(probes, searchKey(rng))
			}
			for i := 0; i < count; i++ { // every key present, and next to it
				var k []byte
				if leaf {
					k, _ = page.LeafKey(p, i)
				} else {
					k, _ = page.BranchKey(p, i)
				}
				probes = append(probes, k, append(bytes.Clone(k), 0), k[:len(k)/2])
			}
			for _, k := range probes {
				if leaf {
					i, ok, err := leafSearch(p, id, count, k)
					wi, wok := refLeafSearch(p, count, k)
					if err != nil || i != wi || ok != wok {
						t.Fatalf("leaf %d (%d elements), key %q: leafSearch = %d, %v, %v; want %d, %v", id, count, k, i, ok, err, wi, wok)
					}
					continue
				}
				i, err := branchSearch(p, id, count, k)
				if wi := refBranchSearch(p, count, k); err != nil || i != wi {
					t.Fatalf("branch %d (%d elements), key %q: branchSearch = %d, %v; want %d", id, count, k, i, err, wi)
				}
			}
		}
	}
	if leaves < 100 || branches < 10 || ties < 1000 {
		t.Fatalf("too easy: %d leaves, %d branches, %d tied hints", leaves, branches, ties)
	}
	t.Logf("%d leaves, %d branches, %d tied hints", leaves, branches, ties)
}

// TestTreeMap: Map is only a hint to Get, as to a cursor. With the real
// mapping, one too short, one byte or unrelated bytes, every key reads
// the same and a missing key stays missing; Reset drops the mapping.
func TestTreeMap(t *testing.T) {
	m := newMemPages(1024)
	root, sum, keys := threeLevelTree(t, m, 3000)
	tr := New(m, root, sum)
	for _, tc := range []struct {
		name    string
		mapping []byte
	}{
		{"none", nil},
		{"file", m.file},
		{"short", m.file[:len(m.file)/3]},
		{"one byte", m.file[:1]},
		{"unrelated", make([]byte, 4096)},
	} {
		tr.Map(tc.mapping, m.ps)
		for _, kv := range keys {
			k, v, _ := strings.Cut(kv, "=")
			got, _, found, err := tr.Get([]byte(k))
			if err != nil || !found || string(got) != v {
				t.Fatalf("%s: Get(%s) = %q, %v, %v; want %q", tc.name, k, got, found, err, v)
			}
		}
		if _, _, found, err := tr.Get([]byte("k9")); found || err != nil {
			t.Fatalf("%s: Get of a missing key: found %v, err %v", tc.name, found, err)
		}
	}
	tr.Reset(m, root, sum)
	if tr.mapping != nil {
		t.Fatal("Reset kept the mapping")
	}
}
