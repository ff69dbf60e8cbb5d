package wal

import (
	"flag"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

var (
	crashSeed   = flag.Uint64("crash.seed", 0, "seed for TestCrashImages (0: from the clock)")
	crashCycles = flag.Int("crash.cycles", 60, "crash and recovery cycles in TestCrashImages")
)

// powerLoss copies l's directory as a power loss could leave it: records
// up to SyncedLSN intact; every byte written after them, sector by sector,
// either there, reverted to zeros, or garbage (a torn write). Segment
// headers and directory entries are taken as they are: the log syncs them
// before it relies on them.
func powerLoss(t *testing.T, l *Log, r *rand.Rand) string {
	t.Helper()
	const sector = 512
	img := crashImage(t, l.dir)
	durable := l.SyncedLSN()
	type seg struct {
		num, first uint64
		end        int64
	}
	var segs []seg
	l.mu.Lock()
	for _, s := range l.segs {
		segs = append(segs, seg{s.num, s.first, s.end})
	}
	l.mu.Unlock()
	for _, s := range segs {
		path := filepath.Join(img, liveName(s.num))
		from := int64(-1)
		for _, f := range frames(t, path) {
			if f.lsn > durable {
				from = f.off
				break
			}
		}
		if s.first > durable { // its header was synced when it was made
			from = segHeaderSize
		}
		if from < 0 {
			continue
		}
		for sec := from &^ (sector - 1); sec < s.end; sec += sector {
			lo, hi := max(sec, from), min(sec+sector, s.end)
			switch r.IntN(4) {
			case 0:
				patch(t, path, lo, make([]byte, hi-lo))
			case 1:
				patch(t, path, lo, payload(r.IntN(1<<30)|1, int(hi-lo)))
			}
		}
	}
	return img
}

// TestCrashImages runs random appends, syncs and truncations against a
// model, cuts the power at random points, and checks that recovery finds
// every synced record, and only records that were appended, each as it was.
// Recovered logs carry on, so stale whole frames of lost records pile up
// where the next session's records go.
func TestCrashImages(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("-crash.seed=%d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	opts := Options{SegmentSize: 8192, NoCompression: r.IntN(2) == 0, MaxFreeSegments: 2, noSpares: true}

	l := openLog(t, t.TempDir(), opts)
	var model [][]byte // model[i] is the payload of LSN i+1
	var truncated uint64
	lost := 0
	for cycle := range *crashCycles {
		for range r.IntN(40) {
			switch op := r.IntN(10); {
			case op < 7:
				p := payload(r.IntN(1<<20), r.IntN(1500))
				if lsn := appendT(t, l, p); lsn != uint64(len(model)+1) {
					t.Fatalf("cycle %d: lsn %d, want %d", cycle, lsn, len(model)+1)
				}
				model = append(model, p)
			case op < 9:
				syncT(t, l)
			default:
				upTo := uint64(r.Int64N(int64(l.SyncedLSN()) + 1))
				if err := l.Truncate(upTo); err != nil {
					t.Fatal(err)
				}
				truncated = max(truncated, upTo)
			}
		}
		durable := l.SyncedLSN()
		img := powerLoss(t, l, r)
		closeLog(t, l)

		l = openLog(t, img, opts)
		got := replayAll(t, l, truncated+1)
		last := l.LastLSN()
		if last < durable || last > uint64(len(model)) {
			t.Fatalf("cycle %d: recovered through lsn %d; %d were synced, %d appended", cycle, last, durable, len(model))
		}
		checkRecords(t, got, truncated+1, model[truncated:last])
		lost += len(model) - int(last)
		model = model[:last]
	}
	closeLog(t, l)
	t.Logf("%d cycles, %d records, %d unsynced records lost to crashes", *crashCycles, len(model), lost)
}
