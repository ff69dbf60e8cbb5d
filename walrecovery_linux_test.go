package folio

import (
	"flag"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/foliodb/folio/wal"
	"golang.org/x/sys/unix"
)

var (
	walRecovery1G     = flag.Bool("wal.recovery1g", false, "run TestWALRecovery1GiB: build a GiB of write-ahead log and time its replay (minutes, ~4 GB of disk)")
	walRecoveryBytes  = flag.Int64("wal.recoverybytes", 1<<30, "TestWALRecovery1GiB with -wal.recovery1g: log bytes to build (without it, 1 MiB)")
	walRecoveryOps    = flag.Bool("wal.recoveryops", false, "TestWALRecovery1GiB: log operations, not page images (DB.WALImageLimit -1): recovery re-runs them")
	walRecoveryTmpDir = flag.String("wal.recoverydir", "", "TestWALRecovery1GiB: directory for its files (default: a temporary one)")
)

// TestWALRecovery1GiB measures recovery: a WAL database commits batches
// of random puts, never checkpointing, until its log holds a GiB; the
// file and the log are copied as a crash would leave them (the file's
// meta is still the one it was created with) and Open is timed replaying
// all of it: reading and checking every frame,
// decompressing, writing every page image to the file, syncing the file,
// the meta, recycling the segments. Twice: with the copies evicted from
// the page cache (cold, as after a power cut), and with a copy still in
// it (warm, as after a process death). The replayed database is then
// compared with the model.
//
// A GiB takes minutes, so by default (and in CI) it builds only 1 MiB of
// log and checks the same things: nothing checkpointed while it was
// built, one replay, the replayed contents equal to the model. Run it
// with -wal.recovery1g for the GiB and its figures (add -v).
func TestWALRecovery1GiB(t *testing.T) {
	logLimit := *walRecoveryBytes
	if !*walRecovery1G {
		logLimit = 1 << 20
	}
	dir := *walRecoveryTmpDir
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "big.db")
	opts := &Options{PageSize: 4096, WAL: true, CheckpointBytes: 1 << 50, CheckpointInterval: 1 << 50}
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = recordsLimit["images"]
	if *walRecoveryOps {
		db.WALImageLimit = recordsLimit["operations"]
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 8))
	seed := maphash.MakeSeed()
	model := map[string]uint64{} // key -> hash of its value
	key, val := make([]byte, 16), make([]byte, 104)
	const putsPerCommit = 100 // records stay under 1 MiB, which commit directly
	start := time.Now()
	commits := 0
	var logBytes int64
	for logBytes < logLimit {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := 0; i < putsPerCommit; i++ {
				for j := range key {
					key[j] = byte('a' + rng.IntN(26))
				}
				for j := 0; j < len(val); j += 8 {
					v := rng.Uint64()
					for k := 0; k < 8; k++ {
						val[j+k] = byte(v >> (8 * k))
					}
				}
				if err := b.Put(key, val); err != nil {
					return err
				}
				model[string(key)] = maphash.Bytes(seed, val)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		commits++
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		logBytes = in.LogBytes
		if in.LogPending != commits {
			t.Fatalf("%d commits pending in the log, want %d: something checkpointed", in.LogPending, commits)
		}
	}
	build := time.Since(start)

	// The crash: the files as they are now, before Close checkpoints.
	cold, warm := filepath.Join(dir, "cold.db"), filepath.Join(dir, "warm.db")
	for _, p := range []string{cold, warm} {
		copyFile(t, path, p)
		copyLiveSegments(t, LogDir(path), LogDir(p))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(LogDir(path)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Both copies durable, as the log was when its commits returned (a
	// recovery would otherwise pay to write the copies back), the cold
	// one out of the page cache.
	for _, p := range []string{cold, warm} {
		for _, f := range append(walSegments(t, LogDir(p)), p) {
			syncFile(t, f, p == cold)
		}
	}
	warmUp(t, warm)

	t.Logf("built: %d commits of %d random puts (%d keys), %.1f MiB of log, data file %.1f MiB, in %v",
		commits, putsPerCommit, len(model), float64(logBytes)/(1<<20), float64(fi.Size())/(1<<20), build.Round(time.Millisecond))
	// How much of it is reading the log: recovering it (read-only, on
	// the warm copy) and reading back every record.
	t0 := time.Now()
	lg, err := wal.Open(LogDir(warm), wal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var payload int64
	if err := lg.Replay(0, func(_ uint64, p []byte) error { payload += int64(len(p)); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	d := time.Since(t0)
	t.Logf("reading the log alone (warm cache): %.2f s, %.0f MB/s of log, %.0f MB/s of records (%.1f MiB uncompressed)",
		d.Seconds(), float64(logBytes)/1e6/d.Seconds(), float64(payload)/1e6/d.Seconds(), float64(payload)/(1<<20))
	for _, p := range []string{cold, warm} {
		var replays replayCounter
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base) // the model and the test's own
		peak := sampleHeap()
		t0 := time.Now()
		db, err := Open(p, 0o600, &Options{WAL: true, Logger: &replays})
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(t0)
		heap := peak()
		t.Logf("recovery (%s cache): %d transactions, %.1f MiB of log replayed in %.2f s: %.0f MB/s; Go heap in use peaked %.0f MiB above the %.0f MiB before Open",
			map[string]string{cold: "cold", warm: "warm"}[p], commits, float64(logBytes)/(1<<20), d.Seconds(), float64(logBytes)/1e6/d.Seconds(),
			float64(heap-min(heap, base.HeapInuse))/(1<<20), float64(base.HeapInuse)/(1<<20))
		if *walRecovery1G {
			fmt.Printf("BenchmarkWALRecovery/log=%dMiB/cache=%s\t1\t%d ns/op\t%.2f MB/s\n",
				logBytes>>20, map[string]string{cold: "cold", warm: "warm"}[p], d.Nanoseconds(), float64(logBytes)/1e6/d.Seconds())
		}
		if replays.n != 1 {
			t.Fatalf("%d replays logged, want 1", replays.n)
		}
		if p == cold {
			err = db.View(func(tx *Tx) error {
				n := 0
				err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
					n++
					if h, ok := model[string(k)]; !ok || h != maphash.Bytes(seed, v) {
						return fmt.Errorf("key %q differs from the model", k)
					}
					return nil
				})
				if err == nil && n != len(model) {
					err = fmt.Errorf("%d keys, model has %d", n, len(model))
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		_ = os.RemoveAll(LogDir(p))
		_ = os.Remove(p)
	}
}

// sampleHeap samples the Go heap in use every 5 ms until the returned
// function is called, which returns the peak.
func sampleHeap() (stop func() (heap uint64)) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var peak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		sample()
		return peak
	}
}

// syncFile syncs the file at path and, if evict is set, drops it from
// the page cache.
func syncFile(t *testing.T, path string, evict bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if !evict {
		return
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// warmUp reads the database at path and its log into the page cache.
func warmUp(t *testing.T, path string) {
	t.Helper()
	for _, p := range append(walSegments(t, LogDir(path)), path) {
		if _, err := os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
}
