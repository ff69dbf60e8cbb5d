package page

import (
	"errors"
	"slices"
	"testing"
)

func TestApplyFreeDelta(t *testing.T) {
	base := []Extent{{Start: 2, Len: 4}, {Start: 10, Len: 3}}
	for _, c := range []struct {
		name         string
		taken, added []Extent
		want         []Extent
		bad          bool
	}{
		{name: "empty", want: base},
		{name: "take a middle", taken: []Extent{{3, 2}}, want: []Extent{{2, 1}, {5, 1}, {10, 3}}},
		{name: "take whole", taken: []Extent{{2, 4}, {10, 3}}, want: []Extent{}},
		{name: "add joins neighbours", added: []Extent{{6, 4}}, want: []Extent{{2, 11}}},
		{name: "add past", added: []Extent{{20, 1}}, want: []Extent{{2, 4}, {10, 3}, {20, 1}}},
		{name: "take and add", taken: []Extent{{2, 1}}, added: []Extent{{7, 1}}, want: []Extent{{3, 3}, {7, 1}, {10, 3}}},
		{name: "take outside", taken: []Extent{{6, 1}}, bad: true},
		{name: "take across", taken: []Extent{{5, 6}}, bad: true},
		{name: "take past the end", taken: []Extent{{12, 2}}, bad: true},
		{name: "add inside", added: []Extent{{11, 1}}, bad: true},
		{name: "add overlapping", added: []Extent{{8, 3}}, bad: true},
	} {
		d := FreeDelta{Taken: c.taken, Added: c.added}
		m := Meta{Freelist: 2, High: 30, FreeDelta: d.Encode()}
		got, err := ApplyFreeDelta(base, m, 1)
		if c.bad {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Page != 1 {
				t.Errorf("%s: err %v, want a CorruptError naming meta page 1", c.name, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) && len(got)+len(c.want) > 0 {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// A meta page with a delta round-trips; one whose delta is damaged, or
// that has a delta but no free list, or a version 1 page with a length,
// is refused.
func TestMetaFreeDelta(t *testing.T) {
	const ps = 1024
	d := FreeDelta{Taken: []Extent{{3, 1}}, Added: []Extent{{9, 2}}}.Encode()
	m := Meta{PageSize: ps, Root: 4, RootSum: 1, Freelist: 2, FreelistSum: 2, High: 20, TxID: 7, FreeDelta: d}
	p := make([]byte, ps)
	EncodeMetaCommit(p, 1, &m, []CommitRun{{ID: 4, Pages: 1, Sum: 1}})
	got, err := DecodeMeta(p, 1)
	if err != nil || got != m {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
	}
	for name, edit := range map[string]func(q []byte){
		"delta byte":      func(q []byte) { q[commitRunsOff+commitRunSize] = 0x80 },
		"delta length":    func(q []byte) { q[metaSize+4]++ },
		"huge length":     func(q []byte) { q[metaSize+7] = 1 },
		"no free list":    func(q []byte) { clear(q[HeaderSize+28 : HeaderSize+40]) },
		"version 1 delta": func(q []byte) { q[HeaderSize+4] = 1 },
	} {
		q := append([]byte(nil), p...)
		edit(q)
		Seal(q)
		if _, err := DecodeMeta(q, 1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	if MaxCommitRunsBeside(ps, len(d)) >= MaxCommitRuns(ps) && len(d) >= commitRunSize {
		t.Errorf("a delta of %d bytes leaves room for all %d runs", len(d), MaxCommitRuns(ps))
	}
}
