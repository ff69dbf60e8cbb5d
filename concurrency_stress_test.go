package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// Concurrency and lifecycle stress: many goroutines on one DB, in both
// modes, with Close, Sync and Checkpoint among them. Each test runs for a
// few seconds by default; -stress.mul multiplies its rounds, and every
// round runs under a deadline that dumps every goroutine's stack if it
// passes (a deadlock fails the test instead of hanging the suite).
var stressMul = flag.Int("stress.mul", 1, "multiply the rounds of the concurrency stress tests (concurrency_stress_test.go)")

// stressRounds is n times -stress.mul.
func stressRounds(n int) int { return n * max(*stressMul, 1) }

// stressDeadline is how long a test's rounds may take before they count
// as hung. Generous: TestConcurrentBank's wal-auto took 10.9 s at -cpu 1
// beside two CPU hogs and a writer fsyncing 128 MiB files, 0.5 s alone.
func stressDeadline() time.Duration { return 2 * time.Minute * time.Duration(max(*stressMul, 1)) }

// within runs fn in a goroutine and fails the test with a dump of every
// goroutine if fn has not returned after stressDeadline. The goroutines
// that hang are left behind: the test has failed anyway.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(stressDeadline()):
		t.Fatalf("%s: no return after %v (deadlock?); goroutines:\n%s", what, stressDeadline(), allStacks())
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// noLeak fails the test if goroutines started since before (a
// runtime.NumGoroutine count) are still running a few seconds later.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running, %d before the test:\n%s", runtime.NumGoroutine(), before, allStacks())
		}
		time.Sleep(time.Millisecond)
	}
}

// withProcs runs fn with GOMAXPROCS set to n, restoring it afterwards.
func withProcs(n int, fn func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	fn()
}

// TestStressBatchOutcomes runs many concurrent Batch callers whose
// functions succeed, fail with their own error, panic with their own
// value, fail only when run the first time, or call Sync, across
// MaxBatchSize and MaxBatchDelay edge values, GOMAXPROCS settings and
// both modes: each caller gets exactly its own outcome, once, every
// function ran at least once, and the database holds the writes of the
// successful calls and only those.
func TestStressBatchOutcomes(t *testing.T) {
	seed := testSeed(t)
	cases := []struct {
		maxSize int
		delay   time.Duration
	}{
		{1, 0}, {2, -time.Second}, {3, time.Nanosecond}, {0, time.Hour}, {-1, 0}, {1000, 10 * time.Millisecond},
	}
	before := runtime.NumGoroutine()
	for ci, c := range cases {
		for _, walMode := range []bool{false, true} {
			procs := []int{1, 2, 4, 8}[ci%4]
			t.Run(fmt.Sprintf("max=%d,delay=%v,wal=%v,procs=%d", c.maxSize, c.delay, walMode, procs), func(t *testing.T) {
				withProcs(procs, func() {
					stressBatchOutcomes(t, seed+uint64(ci), c.maxSize, c.delay, walMode)
				})
			})
		}
	}
	noLeak(t, before)
}

type batchKind int

const (
	batchOK batchKind = iota
	batchErr
	batchPanic
	batchFlaky // fails the first time it runs, succeeds after
	batchSync  // calls db.Sync, then succeeds
)

func stressBatchOutcomes(t *testing.T, seed uint64, maxSize int, delay time.Duration, walMode bool) {
	db := openTest(t, &Options{PageSize: 1024, NoSync: true, WAL: walMode, CheckpointBytes: 64 << 10})
	db.MaxBatchSize, db.MaxBatchDelay = maxSize, delay
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	callers, each := 16, stressRounds(25)
	type result struct {
		kind    batchKind
		outcome any // the error Batch returned, or the value it panicked with
	}
	results := make([][]result, callers)
	var runs []*atomic.Int32
	for range callers * each {
		runs = append(runs, new(atomic.Int32))
	}
	within(t, "concurrent Batch callers", func() {
		var wg sync.WaitGroup
		for c := range callers {
			results[c] = make([]result, each)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(c)))
				for i := range each {
					r := &results[c][i]
					switch p := rng.IntN(100); {
					case p < 60:
						r.kind = batchOK
					case p < 75:
						r.kind = batchErr
					case p < 85:
						r.kind = batchPanic
					case p < 95:
						r.kind = batchFlaky
					default:
						r.kind = batchSync
					}
					key := fmt.Sprintf("c%02d-%04d", c, i)
					n := runs[c*each+i]
					own := fmt.Errorf("call %s failed", key)
					func() {
						defer func() {
							if v := recover(); v != nil {
								r.outcome = v
							}
						}()
						err := db.Batch(func(tx *Tx) error {
							run := n.Add(1)
							if err := tx.Bucket([]byte("b")).Put([]byte(key), []byte(key)); err != nil {
								return err
							}
							switch r.kind {
							case batchErr:
								return own
							case batchPanic:
								panic("panic " + key)
							case batchFlaky:
								if run == 1 {
									return own
								}
							case batchSync:
								return db.Sync()
							}
							return nil
						})
						r.outcome = err
						if err != nil && !errors.Is(err, own) {
							t.Errorf("call %s (kind %d): %v, not its own error", key, r.kind, err)
						}
					}()
				}
			}()
		}
		wg.Wait()
	})
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for c := range callers {
			for i := range each {
				r := results[c][i]
				key := fmt.Sprintf("c%02d-%04d", c, i)
				got := b.Get([]byte(key)) != nil
				nruns := runs[c*each+i].Load()
				var want any
				switch r.kind {
				case batchErr:
					err, _ := r.outcome.(error)
					if err == nil || !strings.Contains(err.Error(), key) || got {
						t.Errorf("call %s: outcome %v, key present %v; want its error and no key", key, r.outcome, got)
					}
					continue
				case batchPanic:
					want = "panic " + key
					if r.outcome != want || got {
						t.Errorf("call %s: outcome %v, key present %v; want its panic and no key", key, r.outcome, got)
					}
					continue
				}
				if r.outcome != want || !got {
					t.Errorf("call %s (kind %d): outcome %v, key present %v; want success and the key", key, r.kind, r.outcome, got)
				}
				if nruns < 1 || (r.kind == batchFlaky && nruns < 2) {
					t.Errorf("call %s (kind %d) ran %d times", key, r.kind, nruns)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stressWorkload is the goroutines' loops against a DB that another
// goroutine closes: each runs until an operation reports the DB closed;
// acked holds the keys whose writes were acknowledged.
type stressWorkload struct {
	db    *DB
	mu    sync.Mutex
	acked map[string]bool
	errs  chan error
}

// closedOK reports whether err is what an operation may return once Close
// has begun (or nil).
func closedOK(err error) bool { return err == nil || errors.Is(err, ErrDatabaseNotOpen) }

func (w *stressWorkload) fail(format string, args ...any) {
	select {
	case w.errs <- fmt.Errorf(format, args...):
	default:
	}
}

func (w *stressWorkload) ack(key string) {
	w.mu.Lock()
	w.acked[key] = true
	w.mu.Unlock()
}

// run is worker id's loop; kind picks what it does.
func (w *stressWorkload) run(id, kind int, started chan<- struct{}) {
	db := w.db
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			started <- struct{}{}
		}
	}
	defer signal() // a worker that fails early must not hold up the test
	put := func(key string) func(*Tx) error {
		return func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte(key), []byte(key)) }
	}
	for i := 0; ; i++ {
		if i == 1 {
			signal()
		}
		key := fmt.Sprintf("w%02d-%05d", id, i)
		var err error
		switch kind {
		case 0: // Batch
			if err = db.Batch(put(key)); err == nil {
				w.ack(key)
			}
		case 1: // Update
			if err = db.Update(put(key)); err == nil {
				w.ack(key)
			}
		case 2: // Begin(true), Commit
			var tx *Tx
			if tx, err = db.Begin(true); err == nil {
				if err = put(key)(tx); err != nil {
					w.fail("put in Begin(true): %v", err)
					_ = tx.Rollback()
					return
				}
				if err = tx.Commit(); err == nil {
					w.ack(key)
				}
			}
		case 3: // View
			err = db.View(func(tx *Tx) error {
				return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
					if !bytes.Equal(k, v) {
						return fmt.Errorf("key %q holds %q", k, v)
					}
					return nil
				})
			})
		case 4: // a long read: a snapshot held across many commits
			var tx *Tx
			if tx, err = db.Begin(false); err == nil {
				b := tx.Bucket([]byte("b"))
				n := 0
				_ = b.ForEach(func(k, v []byte) error { n++; return nil })
				time.Sleep(time.Duration(i%3) * time.Millisecond)
				m := 0
				_ = b.ForEach(func(k, v []byte) error {
					if !bytes.Equal(k, v) {
						w.fail("long read: key %q holds %q", k, v)
					}
					m++
					return nil
				})
				if n != m {
					w.fail("long read saw %d keys, then %d", n, m)
				}
				// Sync or checkpoint with the snapshot held, as Close may
				// be waiting for it (TestCloseWhileReaderCallsDB).
				sync := db.Sync
				if i%2 == 1 {
					sync = db.Checkpoint
				}
				if err := sync(); !closedOK(err) {
					w.fail("Sync or Checkpoint in a long read: %v", err)
				}
				if err := tx.Err(); err != nil {
					w.fail("long read: %v", err)
				}
				err = tx.Rollback()
			}
		case 5: // Sync
			err = db.Sync()
		case 6: // Checkpoint
			err = db.Checkpoint()
		case 7: // Stats and Info
			st := db.Stats()
			if st.OpenTxN < 0 || st.PendingPageN < 0 {
				w.fail("stats: %+v", st)
			}
			_, err = db.Info()
		}
		if !closedOK(err) {
			w.fail("worker %d (kind %d): %v", id, kind, err)
			return
		}
		if err != nil {
			return
		}
		if kind >= 5 {
			runtime.Gosched()
		}
	}
}

// TestStressCloseUnderLoad opens a database, starts every kind of caller
// (Batch, Update, Begin(true), View, long reads, Sync, Checkpoint, Stats
// and Info), closes it (once, or from two goroutines at once) after a
// random while, and repeats, in both modes: Close returns, so does every
// caller (nil or ErrDatabaseNotOpen), no goroutine is left behind, and
// every acknowledged write is in the file when it is opened again.
func TestStressCloseUnderLoad(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	before := runtime.NumGoroutine()
	rounds := stressRounds(12)
	for round := range rounds {
		walMode := round%2 == 1
		procs := []int{1, 2, 4}[round%3]
		path := tempPath(t)
		opts := &Options{PageSize: 1024, NoSync: round%4 != 3, WAL: walMode, CheckpointBytes: 32 << 10}
		db, err := Open(path, 0o600, opts)
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
		w := &stressWorkload{db: db, acked: map[string]bool{}, errs: make(chan error, 1)}
		const kinds = 8
		workers := 2 * kinds
		withProcs(procs, func() {
			within(t, fmt.Sprintf("round %d (wal=%v, procs=%d): Close under load", round, walMode, procs), func() {
				var wg sync.WaitGroup
				started := make(chan struct{}, workers)
				for id := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						w.run(id, id%kinds, started)
					}()
				}
				for range workers {
					<-started
				}
				time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
				closers := 1 + round%2
				errs := make(chan error, closers)
				for range closers {
					go func() { errs <- db.Close() }()
				}
				for range closers {
					if err := <-errs; err != nil {
						t.Errorf("round %d: Close: %v", round, err)
					}
				}
				wg.Wait()
			})
		})
		select {
		case err := <-w.errs:
			t.Fatalf("round %d: %v", round, err)
		default:
		}
		db, err = Open(path, 0o600, opts)
		if err != nil {
			t.Fatal(err)
		}
		err = db.View(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for k := range w.acked {
				if b.Get([]byte(k)) == nil {
					return fmt.Errorf("acknowledged key %s lost", k)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		closeChecked(t, db)
	}
	noLeak(t, before)
}

// TestStressReadersAcrossRemaps keeps read transactions open while
// writers grow the file through several remaps and overwrite and delete
// what the readers see (so their pages are freed and, once no reader
// needs them, reused): every reader sees its snapshot unchanged to the
// end, in both modes, and Close leaves no mapping behind.
func TestStressReadersAcrossRemaps(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			stressReadersAcrossRemaps(t, walMode)
		})
	}
}

func stressReadersAcrossRemaps(t *testing.T, walMode bool) {
	const ps = 4096
	st := &viewCountStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)}
	var lg tx.Log
	if walMode {
		l, err := wal.Open(filepath.Join(t.TempDir(), "log"), wal.Options{SegmentSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		lg = l
	}
	db, err := tx.OpenWithLog("remap.db", st, lg, &Options{NoSync: true, WAL: walMode, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 2 << 20
	// Key k's value in generation g: 40 KiB (its own page run) whose bytes
	// say both, so a reader can tell a value of another commit.
	val := func(k, g int) []byte {
		v := make([]byte, valueSize)
		for i := 0; i < len(v); i += 8 {
			v[i], v[i+1] = byte(k), byte(g)
		}
		return v
	}
	const keys = 64
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for k := range keys {
			if err := b.Put([]byte(fmt.Sprintf("k%03d", k)), val(k, 0)); err != nil {
				return err
			}
		}
		return nil
	})
	// byTx[txid][k] is key k's generation in commit txid; -1: deleted.
	// A writer records its commit once Update returns; a reader that
	// began on it waits until then.
	var genMu sync.Mutex
	byTx := map[int][]int{}
	first := 0
	_ = db.View(func(tx *Tx) error { first = tx.ID(); return nil })
	byTx[first] = make([]int, keys)
	stop := make(chan struct{})
	gens := func(id int) []int {
		for {
			genMu.Lock()
			g, ok := byTx[id]
			genMu.Unlock()
			if ok {
				return g
			}
			select {
			case <-stop:
				return nil // the writer gave up
			default:
				runtime.Gosched()
			}
		}
	}
	var commits atomic.Int64
	var maxViews int64
	rounds := stressRounds(120)
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	within(t, "readers across remaps", func() {
		var wg sync.WaitGroup
		for r := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(r), 7))
				for {
					select {
					case <-stop:
						return
					default:
					}
					rtx, err := db.Begin(false)
					if err != nil {
						report(err)
						return
					}
					want := gens(rtx.ID())
					if want == nil {
						_ = rtx.Rollback()
						return
					}
					// Hold it across some commits, reading now and then.
					hold := commits.Load() + int64(rng.IntN(20))
					for pass := 0; ; pass++ {
						if err := checkGens(rtx, want); err != nil {
							report(fmt.Errorf("reader %d, txid %d, pass %d: %w", r, rtx.ID(), pass, err))
							_ = rtx.Rollback()
							return
						}
						if commits.Load() >= hold {
							break
						}
						select {
						case <-stop:
						default:
							time.Sleep(time.Millisecond)
							continue
						}
						break
					}
					_ = rtx.Rollback()
				}
			}()
		}
		prev := byTx[first]
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 1; i <= rounds; i++ {
			var next []int
			var id int
			err := db.Update(func(tx *Tx) error {
				next, id = slices.Clone(prev), tx.ID()
				b := tx.Bucket([]byte("b"))
				for range 1 + rng.IntN(8) {
					k := rng.IntN(keys)
					name := []byte(fmt.Sprintf("k%03d", k))
					if rng.IntN(4) == 0 {
						if err := b.Delete(name); err != nil {
							return err
						}
						next[k] = -1
						continue
					}
					if err := b.Put(name, val(k, i)); err != nil {
						return err
					}
					next[k] = i
				}
				// Grow past the first map (16 MiB; with -stress.mul, the
				// next ones too): up to 48 MiB of large values,
				// overwritten in turn once there.
				if i%3 == 0 {
					return b.Put([]byte(fmt.Sprintf("z%02d", i/3%96)), make([]byte, 512<<10))
				}
				return nil
			})
			if err != nil {
				report(err)
				break
			}
			genMu.Lock()
			byTx[id] = next
			genMu.Unlock()
			prev = next
			maxViews = max(maxViews, st.open.Load())
			if walMode && i%25 == 0 {
				// A checkpoint beside the readers; it commits a txid of
				// its own, with the same data.
				if err := db.Checkpoint(); err != nil {
					report(err)
					break
				}
				in, err := db.Info()
				if err != nil {
					report(err)
					break
				}
				genMu.Lock()
				byTx[int(in.TxID)] = next
				genMu.Unlock()
			}
			commits.Add(1)
		}
		close(stop)
		wg.Wait()
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if maxViews < 2 {
		t.Errorf("at most %d views open at once: readers never kept an old mapping", maxViews)
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := st.open.Load(); n != 0 {
		t.Fatalf("%d views still mapped after Close", n)
	}
}

// valueSize is the size of TestStressReadersAcrossRemaps's values.
const valueSize = 40 << 10

// checkGens checks that rtx sees generation want[k] of every key k: the
// value's length and its marks at either end and in the middle (reading
// it whole, four readers starved the writer at GOMAXPROCS=1).
func checkGens(rtx *Tx, want []int) error {
	b := rtx.Bucket([]byte("b"))
	for k, g := range want {
		v := b.Get([]byte(fmt.Sprintf("k%03d", k)))
		if g < 0 {
			if v != nil {
				return fmt.Errorf("key %d deleted, but reads %d bytes", k, len(v))
			}
			continue
		}
		n := valueSize
		if len(v) != n {
			return fmt.Errorf("key %d: want generation %d (%d bytes), read %d bytes", k, g, n, len(v))
		}
		for _, i := range []int{0, n / 16 * 8, n - 8} {
			if v[i] != byte(k) || v[i+1] != byte(g) {
				return fmt.Errorf("key %d: want generation %d, read key %d generation %d at byte %d", k, g, v[i], v[i+1], i)
			}
		}
	}
	return rtx.Err()
}

// ackLog is a write-ahead log that remembers the last LSN appended and
// the highest LSN a SyncTo returned for, and makes each sync take a
// little while, so that commits pile up behind it.
type ackLog struct {
	tx.Log
	appended atomic.Uint64
	synced   atomic.Uint64
}

func (l *ackLog) Append(p []byte) (uint64, error) {
	lsn, err := l.Log.Append(p)
	if err == nil {
		l.appended.Store(lsn)
	}
	return lsn, err
}

func (l *ackLog) SyncTo(lsn uint64) error {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	if err := l.Log.SyncTo(lsn); err != nil {
		return err
	}
	for {
		s := l.synced.Load()
		if s >= lsn || l.synced.CompareAndSwap(s, lsn) {
			return nil
		}
	}
}

// TestStressWALAckAfterSync runs Update and Batch writers, readers,
// Checkpoint and Sync callers at once in WAL mode, with checkpoints due
// every few commits: no write is acknowledged, and no reader sees one,
// before a log sync covering its record has returned; a writer sees its
// own write at once after the acknowledgement; a reader's successive
// snapshots never go back in time.
func TestStressWALAckAfterSync(t *testing.T) {
	before := runtime.NumGoroutine()
	for round := range stressRounds(4) {
		withProcs([]int{2, 1, 4, 8}[round%4], func() {
			stressWALAckAfterSync(t, round)
		})
	}
	noLeak(t, before)
}

func stressWALAckAfterSync(t *testing.T, round int) {
	// On tmpfs where there is one: the wrapper's sleep stands for a sync.
	lg, err := wal.Open(filepath.Join(stressLogDir(t), "log"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	al := &ackLog{Log: lg}
	st := openFileStorage(memFile(t, tx.InitialImage(1024)), false, false, 0)
	db, err := tx.OpenWithLog("ack.db", st, al, &Options{PageSize: 1024, WAL: true, CheckpointBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	// lsnOf[key] is the LSN of the record of the commit that wrote key:
	// the function runs under the write lock, and the next record that
	// lock appends is its commit's.
	var lsnOf sync.Map
	errs := make(chan error, 1)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	const writers, each = 8, 100
	within(t, fmt.Sprintf("round %d: WAL acknowledgements", round), func() {
		var wg, others sync.WaitGroup
		stop := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					key := fmt.Sprintf("w%d-%03d", w, i)
					put := func(tx *Tx) error {
						lsnOf.Store(key, al.appended.Load()+1)
						return tx.Bucket([]byte("b")).Put([]byte(key), []byte(key))
					}
					var err error
					if (w+i)%2 == 0 {
						err = db.Batch(put)
					} else {
						err = db.Update(put)
					}
					if err != nil {
						report("put %s: %v", key, err)
						return
					}
					lsn, _ := lsnOf.Load(key)
					if s := al.synced.Load(); s < lsn.(uint64) {
						report("put %s acknowledged with the log synced to %d, its record is %d", key, s, lsn)
						return
					}
					if err := db.View(func(tx *Tx) error {
						if tx.Bucket([]byte("b")).Get([]byte(key)) == nil {
							return fmt.Errorf("acknowledged key %s not visible to its writer", key)
						}
						return nil
					}); err != nil {
						report("%v", err)
						return
					}
				}
			}()
		}
		for r := range 3 {
			others.Add(1)
			go func() {
				defer others.Done()
				last := 0
				for {
					select {
					case <-stop:
						return
					default:
					}
					err := db.View(func(tx *Tx) error {
						if tx.ID() < last {
							return fmt.Errorf("reader %d: snapshot %d after %d", r, tx.ID(), last)
						}
						last = tx.ID()
						synced := al.synced.Load()
						return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
							lsn, ok := lsnOf.Load(string(k))
							if !ok {
								return fmt.Errorf("reader %d sees key %s, whose function never ran", r, k)
							}
							if lsn.(uint64) > synced {
								return fmt.Errorf("reader %d sees key %s of record %d, log synced to %d", r, k, lsn, synced)
							}
							return nil
						})
					})
					if err != nil {
						report("%v", err)
						return
					}
					time.Sleep(200 * time.Microsecond) // leave the writers CPU
				}
			}()
		}
		others.Add(1)
		go func() {
			defer others.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%2 == 0 {
					err = db.Checkpoint()
				} else {
					err = db.Sync()
				}
				if err != nil {
					report("checkpoint or sync: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		wg.Wait()
		close(stop)
		others.Wait()
	})
	select {
	case err := <-errs:
		t.Fatalf("round %d: %v", round, err)
	default:
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWhileReaderCallsDB: a goroutine holding a read transaction
// calls Sync, Checkpoint or Update while another goroutine's Close waits
// for that transaction to end. The call must return (ErrDatabaseNotOpen:
// the database is closing), so the reader can end its transaction and
// Close can finish. bbolt's Sync is a bare fdatasync and returns here;
// folio's waited for the write lock, which Close held while it waited for
// the reader: a deadlock.
func TestCloseWhileReaderCallsDB(t *testing.T) {
	calls := []struct {
		name string
		fn   func(db *DB) error
	}{
		{"Sync", (*DB).Sync},
		{"Checkpoint", (*DB).Checkpoint},
		{"Update", func(db *DB) error { return db.Update(func(*Tx) error { return nil }) }},
		{"Batch", func(db *DB) error { return db.Batch(func(*Tx) error { return nil }) }},
		{"Begin(true)", func(db *DB) error {
			tx, err := db.Begin(true)
			if err == nil {
				_ = tx.Rollback()
			}
			return err
		}},
	}
	for _, walMode := range []bool{false, true} {
		for _, c := range calls {
			t.Run(fmt.Sprintf("wal=%v/%s", walMode, c.name), func(t *testing.T) {
				db, err := Open(tempPath(t), 0o600, &Options{PageSize: 1024, WAL: walMode})
				if err != nil {
					t.Fatal(err)
				}
				mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
				rtx, err := db.Begin(false)
				if err != nil {
					t.Fatal(err)
				}
				closed := make(chan error, 1)
				go func() { closed <- db.Close() }()
				waitUntil(t, "Close stops new readers", func() bool {
					return errors.Is(db.View(func(*Tx) error { return nil }), ErrDatabaseNotOpen)
				})
				called := make(chan error, 1)
				go func() { called <- c.fn(db) }()
				select {
				case err := <-called:
					if !errors.Is(err, ErrDatabaseNotOpen) {
						t.Errorf("%s while Close waits: %v, want ErrDatabaseNotOpen", c.name, err)
					}
				case <-time.After(60 * time.Second):
					t.Errorf("%s while Close waits for the caller's read transaction: no return after 60 s (deadlock)", c.name)
					_ = rtx.Rollback() // let Close, then the call, finish
					<-called
				}
				_ = rtx.Rollback()
				if err := <-closed; err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// holdLog holds the SyncTo of one LSN (hold) until release is closed;
// other syncs go through.
type holdLog struct {
	tx.Log
	hold    atomic.Uint64
	held    chan struct{} // closed once the held SyncTo waits
	release chan struct{}
}

func (l *holdLog) SyncTo(lsn uint64) error {
	if h := l.hold.Load(); h != 0 && lsn == h {
		close(l.held)
		<-l.release
	}
	return l.Log.SyncTo(lsn)
}

func (l *holdLog) Append(p []byte) (uint64, error) {
	lsn, err := l.Log.Append(p)
	if err == nil && l.hold.Load() == 1 { // armed: hold this record's sync
		l.hold.Store(lsn)
	}
	return lsn, err
}

// stressLogDir is a directory for a test's write-ahead log: on tmpfs
// where there is one, so that syncs cost nothing.
func stressLogDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "folio-stress-*"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// TestWALSupersededCommitUnmapsItsView: in WAL mode, commit A grows the
// file past the map and maps it anew, and waits for its log sync; commit
// B, begun on A's state, grows it past that map too and is published
// first (its sync returned first), so A's snapshot is never published.
// The mapping A made has no snapshot left to release it: it must be
// unmapped all the same, and Close must leave no view mapped.
func TestWALSupersededCommitUnmapsItsView(t *testing.T) {
	const ps = 4096
	st := &viewCountStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)}
	inner, err := wal.Open(filepath.Join(stressLogDir(t), "log"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	lg := &holdLog{Log: inner, held: make(chan struct{}), release: make(chan struct{})}
	db, err := tx.OpenWithLog("superseded.db", st, lg, &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 1 << 20
	db.WALImageLimit = -1 // log operations, however large: no commit here is direct
	put := func(prefix string, mib int) func(*Tx) error {
		return func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := range mib {
				if err := b.Put([]byte(fmt.Sprintf("%s%03d", prefix, i)), make([]byte, 1<<20-1024)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	mustUpdate(t, db, put("base", 14)) // the first map (16 MiB) holds it
	views := st.open.Load()
	lg.hold.Store(1)
	errA := make(chan error, 1)
	go func() { errA <- db.Update(put("a", 3)) }() // past 16 MiB: a 32 MiB map
	select {
	case <-lg.held:
	case err := <-errA:
		t.Fatalf("commit A returned (%v) before its sync", err)
	}
	if st.open.Load() != views+1 {
		t.Fatalf("commit A did not map the file anew (%d views, %d before)", st.open.Load(), views)
	}
	mustUpdate(t, db, put("b", 20)) // past 32 MiB: a 64 MiB map, published first
	close(lg.release)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if n := st.open.Load(); n != 1 {
		t.Errorf("%d views mapped once both commits are published and no reader is open, want 1 (the current one)", n)
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := st.open.Load(); n != 0 {
		t.Fatalf("%d views still mapped after Close", n)
	}
}

// TestWALFailedCommitsUnmapTheirViews: in WAL mode, commits A and B each
// grow the file past the map and map it anew; both syncs fail, so neither
// is ever published. Close must unmap both mappings, not only the newest
// commit's.
func TestWALFailedCommitsUnmapTheirViews(t *testing.T) {
	const ps = 4096
	st := &viewCountStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)}
	inner, err := wal.Open(filepath.Join(stressLogDir(t), "log"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	lg := &holdLog{Log: inner, held: make(chan struct{}), release: make(chan struct{})}
	g := newGatedLog(lg)
	db, err := tx.OpenWithLog("failed.db", st, g, &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 1 << 20
	db.WALImageLimit = -1
	put := func(prefix string, mib int) func(*Tx) error {
		return func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := range mib {
				if err := b.Put([]byte(fmt.Sprintf("%s%03d", prefix, i)), make([]byte, 1<<20-1024)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	mustUpdate(t, db, put("base", 14))
	g.hold()
	errs := make(chan error, 2)
	go func() { errs <- db.Update(put("a", 3)) }() // a 32 MiB map
	waitUntil(t, "commit A waits for its sync", func() bool { return g.waiting.Load() == 1 })
	go func() { errs <- db.Update(put("b", 20)) }() // a 64 MiB map
	waitUntil(t, "commit B waits for its sync", func() bool { return g.waiting.Load() == 2 })
	g.release(errInjected)
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("commit with a failed sync: %v, want ErrSyncFailed", err)
		}
	}
	if err := db.Close(); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("Close after failed syncs: %v, want ErrSyncFailed", err)
	}
	if n := st.open.Load(); n != 0 {
		t.Fatalf("%d views still mapped after Close", n)
	}
}
