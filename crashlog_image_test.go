package folio

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/foliodb/folio/wal"
)

// TestCrashLogImage checks the log double's model of a power cut on a
// small script of calls (how its calls merge with the file double's, what
// a sync and a truncation leave), and that every image it writes with
// package wal recovers to exactly its whole records: a torn frame ends
// the log without an error, whatever lies past it.
func TestCrashLogImage(t *testing.T) {
	st := newCrashStorage(t, make([]byte, 4096))
	lg := newCrashLog(st)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100*i) }
	appendRec := func(i int) {
		t.Helper()
		lg.setTag(i)
		if _, err := lg.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	must(st.WriteAt([][]byte{make([]byte, 1024)}, 2048)) // point 1
	appendRec(1)                                         // 2
	must(lg.SyncTo(1))                                   // 3
	must(st.WriteAt([][]byte{make([]byte, 1024)}, 3072)) // 4
	appendRec(2)                                         // 5
	appendRec(3)                                         // 6
	must(lg.SyncTo(2))                                   // 7: syncs 2 and 3
	must(lg.Truncate(2))                                 // 8
	appendRec(4)                                         // 9
	must(lg.SyncTo(3))                                   // no call: already durable
	must(st.SyncRange(0, 4096))                          // 10

	pts := lg.points(st.opCount())
	want := []walPoint{{0, 0}, {1, 0}, {1, 1}, {1, 2}, {2, 2}, {2, 3}, {2, 4}, {2, 5}, {2, 6}, {2, 7}, {3, 7}}
	if !slices.Equal(pts, want) {
		t.Fatalf("points %v, want %v", pts, want)
	}
	for p, tags := range map[int][2]int{0: {0, 0}, 2: {0, 1}, 3: {1, 1}, 6: {1, 3}, 7: {3, 3}, 9: {3, 4}} {
		if d, l := lg.tagsAt(pts[p].log); d != tags[0] || l != tags[1] {
			t.Errorf("point %d: durable, last tags %d, %d; want %v", p, d, l, tags)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lsns := func(li logImage) []int {
		var out []int
		for _, r := range li.recs {
			out = append(out, r.tag)
		}
		return out
	}
	for _, c := range []struct {
		point int
		mode  logMode
		want  []int
	}{
		{2, logSynced, nil}, {2, logAll, []int{1}},
		{6, logSynced, []int{1}}, {6, logAll, []int{1, 2, 3}},
		{8, logSynced, []int{3}}, {8, logAll, []int{3}},
		{9, logSynced, []int{3}}, {9, logAll, []int{3, 4}},
	} {
		if got := lsns(lg.image(pts[c.point].log, c.mode, rng)); !slices.Equal(got, c.want) {
			t.Errorf("point %d, %s image: records %v, want %v", c.point, c.mode, got, c.want)
		}
	}
	// Random images lie between those, keep a prefix of what was not
	// synced, and may keep truncated records.
	for i := 0; i < 200; i++ {
		p := rng.IntN(len(pts))
		mode := logSubset + logMode(rng.IntN(2))
		li := lg.image(pts[p].log, mode, rng)
		all := lsns(lg.image(pts[p].log, logAll, rng))
		synced := lsns(lg.image(pts[p].log, logSynced, rng))
		_, last := lg.tagsAt(pts[p].log) // tag i is LSN i here
		got := lsns(li)
		ok := len(got) >= len(synced)
		for j, tag := range got {
			ok = ok && tag == got[0]+j && tag >= 1 && tag <= last
		}
		for _, tag := range synced {
			ok = ok && slices.Contains(got, tag)
		}
		if !ok || li.torn >= len(li.recs) || (li.torn >= 0 && mode != logTorn) {
			t.Fatalf("point %d, %s image: records %v torn %d; synced %v, all %v", p, mode, got, li.torn, synced, all)
		}
	}

	// Written with package wal, an image recovers to its whole records.
	dir := scratchDir(t)
	torn := 0
	for i := 0; i < 60; i++ {
		p, mode := rng.IntN(len(pts)), logMode(rng.IntN(4))
		if i%2 == 0 {
			// Half at the points with records not yet synced: 2, 5, 6, 9.
			p, mode = []int{2, 5, 6, 9}[rng.IntN(4)], logTorn
		}
		li := lg.image(pts[p].log, mode, rng)
		if li.torn >= 0 {
			torn++
		}
		d := filepath.Join(dir, strconv.Itoa(i))
		li.write(t, d, rng)
		l, err := wal.Open(d, wal.Options{SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1})
		if err != nil {
			t.Fatalf("image %d (point %d, %d records, torn %d): %v", i, p, len(li.recs), li.torn, err)
		}
		var got [][]byte
		must(l.Replay(0, func(_ uint64, payload []byte) error {
			got = append(got, bytes.Clone(payload))
			return nil
		}))
		must(l.Close())
		var wantP [][]byte
		for _, r := range li.whole() {
			wantP = append(wantP, r.payload)
		}
		if !slices.EqualFunc(got, wantP, bytes.Equal) {
			t.Fatalf("image %d (point %d, records %v, torn %d): recovered %d records, want %d",
				i, p, lsns(li), li.torn, len(got), len(wantP))
		}
	}
	if torn == 0 {
		t.Fatal("no torn image among 60")
	}
	t.Logf("%d of 60 written images had a torn frame", torn)
}
