package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestWALCrashDuringOpen: TestLogCrashAtEachStep
// stops the log at every sync of a running log, but not inside Open,
// where recovery syncs the records it found, recycles the segments past
// the end (or deletes them), syncs the directory and makes a new segment
// after a torn tail. Here a log is cut by a power loss (powerLoss: unsynced
// bytes kept, zeroed or garbage, sector by sector), and its recovery is
// stopped at each of its syncs, and at each sync of the appends, syncs and
// truncations after it: the directory as it is and as of its last sync.
// Each must open and hold every record acknowledged by then, each as it
// was appended.
func TestWALCrashDuringOpen(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		spares := seed%2 == 0
		t.Run(fmt.Sprintf("seed=%d,spares=%v", seed, spares), func(t *testing.T) {
			opts := Options{SegmentSize: 4096, NoCompression: seed%3 == 0, MaxFreeSegments: 2, noSpares: !spares}
			r := rand.New(rand.NewPCG(seed, 22))
			l := openLog(t, t.TempDir(), opts)
			book := newAckBook()
			if err, _ := chaosWorkload(l, book, seed, 80); err != nil {
				t.Fatal(err)
			}
			// Unsynced records across a segment switch or two, so that
			// the power loss leaves segments past the log's end.
			for i := range 6 + r.IntN(6) {
				p := payload(int(seed)*7000+i, 300+r.IntN(1200))
				lsn := appendT(t, l, p)
				if err := book.add(lsn, p); err != nil {
					t.Fatal(err)
				}
			}
			book.mu.Lock()
			acked, trunc := book.acked, book.trunc
			book.mu.Unlock()
			img := powerLoss(t, l, r)
			closeLog(t, l)

			// What survived: the book holds, past the recovered end, LSNs
			// the next session hands out again.
			pre := openLog(t, crashImage(t, img), opts)
			last := pre.LastLSN()
			closeLog(t, pre)
			book2 := newAckBook()
			for lsn, p := range book.appended {
				if lsn <= last {
					book2.appended[lsn] = p
				}
			}
			book2.acked, book2.trunc = acked, trunc

			type image struct {
				n     int
				what  string
				dirs  [2]string
				acked uint64
				trunc uint64
			}
			var images []image
			durableDir := listDir(t, img)
			s := &syncSeams{}
			s.hook = func(n int, what string) {
				now := listDir(t, img)
				book2.mu.Lock()
				a, tr := book2.acked, book2.trunc
				book2.mu.Unlock()
				images = append(images, image{n, what, [2]string{now.write(t, now), durableDir.write(t, now)}, a, tr})
				if what == "dirsync" {
					durableDir = now
				}
			}
			l2, err := open(img, opts, s.dataSync, s.dirSync)
			if err != nil {
				t.Fatalf("recovering open: %v", err)
			}
			if l2.LastLSN() != last {
				t.Fatalf("recovered to lsn %d, a copy to %d", l2.LastLSN(), last)
			}
			if err, _ := chaosWorkload(l2, book2, seed+100, 25); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l2)
			opened := 0
			for _, im := range images {
				for k, d := range im.dirs {
					l3, err := Open(d, opts)
					if err != nil {
						t.Fatalf("crash at call %d (%s) of the recovery and after, dir %s: Open: %v",
							im.n, im.what, [2]string{"as is", "as last synced"}[k], err)
					}
					sub := &ackBook{appended: book2.appended, acked: im.acked, trunc: im.trunc}
					t.Run(fmt.Sprintf("call%d-%s-%d", im.n, im.what, k), func(t *testing.T) { sub.check(t, l3) })
					closeLog(t, l3)
					opened++
				}
			}
			t.Logf("recovered to lsn %d (%d acknowledged); %d crash images opened", last, acked, opened)
		})
	}
}
