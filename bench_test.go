package folio

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// Benchmarks of the paths bench/ compares with bbolt and LMDB, at sizes
// small enough for `go test -bench`: gets, cursor seeks and steps, loads,
// durable commits and Batch. Keys are 16 random-looking bytes, values 100
// random bytes, as in bench/; every commit is synced unless a name says
// sync=false. Compare runs with benchstat (STYLE.md, Benchmarks).

const (
	benchKeySize = 16
	benchValSize = 100
)

var benchBucket = []byte("bench")

// benchMix is splitmix64's finaliser: a bijection that scatters its input.
func benchMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// benchKey writes key i of a set of n into dst: uniform over the key
// space and ascending in i, so a sequential load needs no sort.
func benchKey(dst []byte, i, n int) {
	stride := ^uint64(0) / uint64(n)
	binary.BigEndian.PutUint64(dst, uint64(i)*stride+benchMix(uint64(i))%stride)
	binary.BigEndian.PutUint64(dst[8:], benchMix(uint64(i)+0x632be59bd9b4e019))
}

// benchFreshKey writes a random key that is not in any benchKey set
// (but for odds of about n/2^64).
func benchFreshKey(dst []byte, r *rand.Rand) {
	binary.BigEndian.PutUint64(dst, r.Uint64())
	binary.BigEndian.PutUint64(dst[8:], r.Uint64())
}

func benchValue(r *rand.Rand) []byte {
	v := make([]byte, (benchValSize+7)&^7) // whole 8-byte words
	for i := 0; i < len(v); i += 8 {
		binary.LittleEndian.PutUint64(v[i:], r.Uint64())
	}
	return v[:benchValSize]
}

// benchDB opens a database with the OS page size (folio's default, where
// openTest's default is 1 KiB pages) holding keys 0..n-1 of a set of n in
// random order, loaded 1,000 to a transaction. The load is not synced,
// and not timed: benchmarks call it before their loop.
func benchDB(b *testing.B, n int) *DB { return benchDBWith(b, n, &Options{}) }

// benchDBWith is benchDB with opts (WAL mode, say).
func benchDBWith(b *testing.B, n int, opts *Options) *DB {
	b.Helper()
	db := openTest(b, opts)
	db.NoSync = true
	r := rand.New(rand.NewPCG(1, 2))
	perm := r.Perm(n)
	val := benchValue(r)
	for start := 0; start < n || start == 0; start += 1000 {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists(benchBucket)
			if err != nil {
				return err
			}
			var k [benchKeySize]byte
			for _, i := range perm[start:min(start+1000, n)] {
				benchKey(k[:], i, n)
				if err := bk.Put(k[:], val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	db.NoSync = false
	if err := db.Sync(); err != nil {
		b.Fatal(err)
	}
	return db
}

// benchKeys returns count existing keys of a set of n, in random order.
func benchKeys(count, n int) [][]byte {
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([][]byte, count)
	buf := make([]byte, count*benchKeySize)
	for j := range keys {
		keys[j] = buf[j*benchKeySize : (j+1)*benchKeySize]
		benchKey(keys[j], r.IntN(n), n)
	}
	return keys
}

var benchSizes = []int{1e4, 1e5}

func sizeName(n int) string { return fmt.Sprintf("keys=1e%d", len(fmt.Sprint(n))-1) }

// viewGet gets k in a read transaction of its own (W3's first case).
func viewGet(db *DB, k []byte) error {
	return db.View(func(tx *Tx) error {
		if tx.Bucket(benchBucket).Get(k) == nil {
			return fmt.Errorf("key %x missing", k)
		}
		return nil
	})
}

// BenchmarkGet gets existing keys at random: per=1 is a read transaction
// per get (View, as W3's first case), per=1000 a thousand gets in one.
func BenchmarkGet(b *testing.B) {
	for _, n := range benchSizes {
		for _, per := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/per_txn=%d", sizeName(n), per), func(b *testing.B) {
				db := benchDB(b, n)
				keys := benchKeys(1<<14, n)
				b.ReportAllocs()
				if per == 1 {
					i := 0
					for b.Loop() {
						if err := viewGet(db, keys[i&(len(keys)-1)]); err != nil {
							b.Fatal(err)
						}
						i++
					}
					return
				}
				tx, err := db.Begin(false)
				if err != nil {
					b.Fatal(err)
				}
				bk := tx.Bucket(benchBucket)
				i := 0
				for b.Loop() {
					if i%per == 0 && i > 0 {
						_ = tx.Rollback()
						if tx, err = db.Begin(false); err != nil {
							b.Fatal(err)
						}
						bk = tx.Bucket(benchBucket)
					}
					if bk.Get(keys[i&(len(keys)-1)]) == nil {
						b.Fatal("key missing")
					}
					i++
				}
				_ = tx.Rollback()
			})
		}
	}
}

// BenchmarkGetParallel is W3's scaling case: goroutines each get existing
// keys at random, a read transaction per get; ns/op is per get across all
// of them, so with free cores goroutines=2 should take half as long.
func BenchmarkGetParallel(b *testing.B) {
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("keys=1e5/goroutines=%d", g), func(b *testing.B) {
			db := benchDB(b, 1e5)
			keys := benchKeys(1<<14, 1e5)
			var seq atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / g
			for range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					i := int(seq.Add(1)) * 7919
					for range per {
						if err := viewGet(db, keys[i&(len(keys)-1)]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkSeekNext times cursor work in one read transaction: op=seek
// is a Seek to a random existing key, op=next one step of a full scan
// (W4), starting over at the end.
func BenchmarkSeekNext(b *testing.B) {
	for _, n := range benchSizes {
		db := benchDB(b, n)
		keys := benchKeys(1<<14, n)
		b.Run(sizeName(n)+"/op=seek", func(b *testing.B) {
			tx, err := db.Begin(false)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Rollback()
			c := tx.Bucket(benchBucket).Cursor()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if k, _ := c.Seek(keys[i&(len(keys)-1)]); k == nil {
					b.Fatal("seek found nothing")
				}
				i++
			}
		})
		b.Run(sizeName(n)+"/op=next", func(b *testing.B) {
			tx, err := db.Begin(false)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Rollback()
			c := tx.Bucket(benchBucket).Cursor()
			c.First()
			b.ReportAllocs()
			for b.Loop() {
				if k, _ := c.Next(); k == nil {
					c.First()
				}
			}
		})
	}
}

// benchLoad times transactions of per puts, the keys from next; it
// reports ns/key, the cost of a transaction spread over its keys.
func benchLoad(b *testing.B, db *DB, per int, next func(k []byte)) {
	b.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([][]byte, per)
	for i := range vals {
		vals[i] = benchValue(r)
	}
	keys := make([][]byte, per)
	for i := range keys {
		keys[i] = make([]byte, benchKeySize)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, k := range keys {
			next(k)
		}
		b.StartTimer()
		err := db.Update(func(tx *Tx) error {
			bk := tx.Bucket(benchBucket)
			for i, k := range keys {
				if err := bk.Put(k, vals[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/key")
}

// BenchmarkPutSeq appends ascending keys past the end of the data in
// transactions of 10,000 (W1's pattern); sync=false shows the CPU part.
func BenchmarkPutSeq(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("per_txn=1e4/sync=%v", sync), func(b *testing.B) {
			db := benchDB(b, 0)
			db.NoSync = !sync
			// Keys of a set of 2^40 (2^31-1 where int has 32 bits), in
			// order: far more than any run takes.
			const space = min(1<<40, math.MaxInt)
			i := 0
			benchLoad(b, db, 10_000, func(k []byte) { benchKey(k, i, space); i++ })
		})
	}
}

// BenchmarkPutRandom puts new random keys into a database of keys=n, in
// transactions of 1,000 (W2's pattern), and reports the cost per key.
func BenchmarkPutRandom(b *testing.B) {
	for _, n := range benchSizes {
		for _, sync := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/per_txn=1000/sync=%v", sizeName(n), sync), func(b *testing.B) {
				db := benchDB(b, n)
				db.NoSync = !sync
				r := rand.New(rand.NewPCG(7, 8))
				benchLoad(b, db, 1000, func(k []byte) { benchFreshKey(k, r) })
			})
		}
	}
}

// BenchmarkCommitDurable is W5: a synced transaction of one put of a new
// key, into a database of keys=n, committed directly or through the log.
func BenchmarkCommitDurable(b *testing.B) {
	for _, n := range benchSizes {
		for _, wal := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/wal=%v", sizeName(n), wal), func(b *testing.B) {
				db := benchDBWith(b, n, &Options{WAL: wal})
				r := rand.New(rand.NewPCG(9, 10))
				val := benchValue(r)
				k := make([]byte, benchKeySize)
				b.ReportAllocs()
				for b.Loop() {
					benchFreshKey(k, r)
					err := db.Update(func(tx *Tx) error { return tx.Bucket(benchBucket).Put(k, val) })
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkConcurrentCommits is W6: goroutines each put a new key in its
// own durable transaction, through Batch or Update, sharing syncs (Batch
// shares commits; in WAL mode Update callers share log syncs); ns/op is
// the time per put across all of them.
func BenchmarkConcurrentCommits(b *testing.B) {
	for _, wal := range []bool{false, true} {
		for _, how := range []string{"batch", "update"} {
			for _, g := range []int{1, 16} {
				b.Run(fmt.Sprintf("keys=1e4/wal=%v/%s/goroutines=%d", wal, how, g), func(b *testing.B) {
					db := benchDBWith(b, 1e4, &Options{WAL: wal})
					commit := db.Update
					if how == "batch" {
						commit = db.Batch
					}
					// Exactly g goroutines share b.N puts (RunParallel would
					// start a multiple of GOMAXPROCS: 2 for g=1 on 2 cores,
					// and Batch would then share commits between them).
					var next atomic.Int64
					var wg sync.WaitGroup
					b.ReportAllocs()
					b.ResetTimer()
					for w := range g {
						wg.Add(1)
						go func() {
							defer wg.Done()
							r := rand.New(rand.NewPCG(11, uint64(w)))
							val := benchValue(r)
							for next.Add(1) <= int64(b.N) {
								k := make([]byte, benchKeySize)
								benchFreshKey(k, r)
								err := commit(func(tx *Tx) error { return tx.Bucket(benchBucket).Put(k, val) })
								if err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
				})
			}
		}
	}
}
