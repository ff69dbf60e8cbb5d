package wal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppendSync is one durable commit after another: Append then
// Sync, one fdatasync each. Payloads are random (compression tried and
// rejected) or text (compressed).
func BenchmarkAppendSync(b *testing.B) {
	for _, size := range []int{128, 4 << 10, 64 << 10} {
		for _, data := range []string{"random", "text"} {
			b.Run(fmt.Sprintf("size=%d/data=%s", size, data), func(b *testing.B) {
				p := payload(map[string]int{"random": 1, "text": 0}[data], size)
				l := openLog(b, b.TempDir(), Options{})
				defer closeLog(b, l)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					lsn, err := l.Append(p)
					if err != nil {
						b.Fatal(err)
					}
					if err := l.SyncTo(lsn); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppend is the append path alone: framing, compression, the write
// into the page cache.
func BenchmarkAppend(b *testing.B) {
	for _, data := range []string{"random", "text"} {
		b.Run("size=4096/data="+data, func(b *testing.B) {
			p := payload(map[string]int{"random": 1, "text": 0}[data], 4096)
			l := openLog(b, b.TempDir(), Options{})
			defer closeLog(b, l)
			b.SetBytes(4096)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(p); err != nil {
					b.Fatal(err)
				}
				if l.Size() > 60<<20 { // stay in one segment: measure appends, not file creation
					b.StopTimer()
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
					if err := l.Truncate(l.LastLSN()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkSyncToConcurrent: writers committers, each appending a 4 KiB
// record and waiting for it to be durable. syncs/op shows how many commits
// share each fdatasync.
func BenchmarkSyncToConcurrent(b *testing.B) {
	for _, writers := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			p := payload(1, 4096)
			l := openLog(b, b.TempDir(), Options{})
			defer closeLog(b, l)
			base := l.syncs.Load()
			b.SetBytes(4096)
			b.ReportAllocs()
			b.ResetTimer()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						lsn, err := l.Append(p)
						if err == nil {
							err = l.SyncTo(lsn)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(l.syncs.Load()-base)/float64(b.N), "syncs/op")
		})
	}
}

// BenchmarkRecovery is Open (which reads and checks every segment) plus a
// full Replay of a log of 4 KiB records, half of them compressible.
func BenchmarkRecovery(b *testing.B) {
	for _, mib := range []int{64, 256} {
		b.Run(fmt.Sprintf("log=%dMiB", mib), func(b *testing.B) {
			dir := b.TempDir()
			opts := Options{noSpares: true}
			l := openLog(b, dir, opts)
			for i := 0; l.Size() < int64(mib)<<20; i++ {
				appendT(b, l, payload(i%64, 4096))
			}
			closeLog(b, l)
			size := l.Size()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				l := openLog(b, dir, opts)
				n := 0
				if err := l.Replay(1, func(uint64, []byte) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				closeLog(b, l)
			}
		})
	}
}
