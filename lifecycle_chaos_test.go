package folio

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chaosVal is the value writer w puts under key at version n: it names
// its key (readers check that every value they meet belongs to its key)
// and is long enough, at some versions, to live out of line and make the
// file grow and shrink.
func chaosVal(key string, n int) []byte {
	size := 40
	if n%5 == 0 {
		size = 3000 // out of line at 1 KiB pages: growth, remaps, tail cuts
	}
	v := make([]byte, size)
	copy(v, fmt.Sprintf("%s:%d:", key, n))
	for i := len(key) + 4; i < size; i++ {
		v[i] = byte(n + i)
	}
	return v
}

// TestLifecycleChaos runs writers whose Update and Batch functions
// panic or call runtime.Goexit part of the time (after they wrote), long
// readers holding zero-copy slices across growth, remaps, tail cuts and
// checkpoints, and Sync, Checkpoint and Info callers, then Closes the DB
// while they run, in both modes. No write of a cut-short function is ever
// seen; every slice a reader holds keeps its bytes until its transaction
// ends; every acknowledged write is there after a reopen.
func TestLifecycleChaos(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) { lifecycleChaos(t, walMode) })
	}
}

func lifecycleChaos(t *testing.T, walMode bool) {
	before := runtime.NumGoroutine()
	path := tempPath(t)
	opts := &Options{PageSize: 1024, NoSync: true, WAL: walMode, CheckpointBytes: 16 << 10}
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 16 << 10
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })

	var (
		mu    sync.Mutex
		acked = map[string][]byte{} // key -> last acknowledged value
		fails = make(chan error, 16)
		stop  atomic.Bool
	)
	fail := func(format string, args ...any) {
		select {
		case fails <- fmt.Errorf(format, args...):
		default:
		}
	}
	ok := func(err error) bool { return err == nil || errors.Is(err, ErrDatabaseNotOpen) }
	checkVal := func(k, v []byte) error {
		if bytes.HasPrefix(k, []byte("bad")) {
			return fmt.Errorf("key %q of a function cut short is visible", k)
		}
		if !bytes.HasPrefix(v, append(append([]byte(nil), k...), ':')) {
			return fmt.Errorf("key %q holds %.40q", k, v)
		}
		return nil
	}

	const writers = 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("w%d-%d", w, i%40)
				val := chaosVal(key, i)
				bad := fmt.Sprintf("bad%d-%d", w, i)
				put := func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if i%7 == 3 {
						if err := b.Delete([]byte(fmt.Sprintf("w%d-%d", w, (i+13)%40))); err != nil {
							return err
						}
					}
					return b.Put([]byte(key), val)
				}
				cut := func(how int) func(tx *Tx) error {
					return func(tx *Tx) error {
						if err := tx.Bucket([]byte("b")).Put([]byte(bad), chaosVal(bad, i)); err != nil {
							return err
						}
						if how == 0 {
							panic(bad)
						}
						runtime.Goexit()
						return nil
					}
				}
				var err error
				switch i % 10 {
				case 0, 1, 2, 3:
					err = db.Update(put)
				case 4, 5, 6:
					err = db.Batch(put)
				case 7: // a panicking function, in Update or Batch
					func() {
						defer func() {
							if r := recover(); r != nil && r != bad {
								fail("panic %v, want %v", r, bad)
							}
						}()
						if i%20 == 7 {
							_ = db.Update(cut(0))
						} else {
							_ = db.Batch(cut(0))
						}
					}()
					continue
				case 8: // Goexit in Update (Batch's Goexit ends the leader, maybe another caller)
					done := make(chan struct{})
					go func() { defer close(done); _ = db.Update(cut(1)) }()
					<-done
					continue
				case 9:
					if i%3 == 0 {
						err = db.Checkpoint()
					} else {
						err = db.Sync()
					}
					if _, ierr := db.Info(); !ok(ierr) {
						fail("Info: %v", ierr)
					}
					if !ok(err) {
						fail("Sync/Checkpoint: %v", err)
						return
					}
					if err != nil {
						return
					}
					continue
				}
				if !ok(err) {
					fail("writer %d: %v", w, err)
					return
				}
				if err != nil {
					return
				}
				if i%10 < 7 {
					mu.Lock()
					acked[key] = val
					if i%7 == 3 {
						delete(acked, fmt.Sprintf("w%d-%d", w, (i+13)%40))
					}
					mu.Unlock()
				}
			}
		}()
	}
	// Long readers: slices from Get and cursors, compared with copies at
	// the end of a snapshot held across many commits.
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				tx, err := db.Begin(false)
				if err != nil {
					if !ok(err) {
						fail("Begin(false): %v", err)
					}
					return
				}
				type held struct{ k, v, copyV []byte }
				var hs []held
				c := tx.Bucket([]byte("b")).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if err := checkVal(k, v); err != nil {
						fail("reader %d: %v", r, err)
					}
					hs = append(hs, held{k, v, bytes.Clone(v)})
				}
				for range 20 {
					time.Sleep(200 * time.Microsecond)
					if g := tx.Bucket([]byte("b")).Get([]byte("w0-1")); g != nil {
						if err := checkVal([]byte("w0-1"), g); err != nil {
							fail("reader %d: %v", r, err)
						}
					}
				}
				for _, h := range hs {
					if !bytes.Equal(h.v, h.copyV) {
						fail("reader %d: the value of %q changed under its snapshot", r, h.k)
					}
				}
				if err := tx.Err(); err != nil {
					fail("reader %d: %v", r, err)
				}
				_ = tx.Rollback()
			}
		}()
	}
	within(t, "chaos", func() {
		time.Sleep(700 * time.Millisecond)
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- db.Close() }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		stop.Store(true)
		wg.Wait()
	})
	select {
	case err := <-fails:
		t.Fatal(err)
	default:
	}
	db, err = Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.ForEach(func(k, v []byte) error { return checkVal(k, v) }); err != nil {
			return err
		}
		var lost []string
		for k, v := range acked {
			if got := b.Get([]byte(k)); !bytes.Equal(got, v) {
				lost = append(lost, fmt.Sprintf("%s (got %.20q)", k, got))
			}
		}
		if len(lost) > 0 {
			return fmt.Errorf("acknowledged writes lost: %s", strings.Join(lost, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	closeChecked(t, db)
	noLeak(t, before)
}

// backupKeys reports which of keys k001..k<n> db lacks.
func missingKeys(t *testing.T, db *DB, n int) []string {
	t.Helper()
	var missing []string
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := 1; i <= n; i++ {
			k := fmt.Sprintf("k%03d", i)
			if b == nil || b.Get([]byte(k)) == nil {
				missing = append(missing, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return missing
}

func putNumbered(i int) func(*Tx) error {
	return func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(fmt.Sprintf("k%03d", i)), bytes.Repeat([]byte{byte(i)}, 100))
	}
}

// TestLifecycleNoSyncCloseDropsSyncedLog: with NoSync, Sync makes
// every commit so far durable (README, TestSyncMakesNoSyncCommitsDurable),
// and without a log a Close after it writes nothing, so the state stays
// durable. In WAL mode Close checkpoints: it writes the file's meta
// unsynced (NoSync), then truncates the log, dropping the records Sync
// made durable (package wal drops only durable ones). A power cut after
// Close returned leaves the file's older meta and a log without those
// records: every commit Sync acknowledged is lost. (Checkpoint, or one
// that CheckpointBytes starts, does the same.)
func TestLifecycleNoSyncCloseDropsSyncedLog(t *testing.T) {
	const ps, n = 1024, 20
	opts := &Options{NoSync: true, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
	st := newCrashStorage(t, tx.InitialImage(ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	for i := 1; i <= n; i++ {
		mustUpdate(t, db, putNumbered(i))
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A power cut now: the file as synced, the log as synced.
	rng := rand.New(rand.NewPCG(20, 1))
	img := st.image(st.opCount(), imageSynced, ps, rng)
	li := lg.image(lg.opCount(), logSynced, rng)
	st2 := newCrashStorage(t, img)
	db2, err := tx.OpenWithLog("crash.db", st2, newCrashLogWith(st2, li.whole()), opts)
	if err != nil {
		t.Fatalf("open after a power cut that followed Sync and Close: %v", err)
	}
	defer db2.Close()
	if m := missingKeys(t, db2, n); len(m) > 0 {
		t.Fatalf("Sync returned nil, then Close; a power cut after it lost %d of %d commits: %v", len(m), n, m)
	}
}

// TestLifecycleNoSyncOpenDropsReplayedLogRealWAL: a WAL-mode program
// commits (synced: each commit acknowledged durable, its operations
// logged, as small commits log by default) and dies. The next Open, with
// NoSync, replays the logged operations (replayOps) and ends with a
// checkpoint that writes the file's pages and meta unsynced (NoSync) but
// truncates the log: package wal recycles, durably, every segment before
// the active one. (Image records are replayed durably whatever NoSync
// says: replayLog syncs the file and the meta.) A power cut after that
// Open leaves the file's old meta beside a log missing the records after
// it: commits that were durable before the NoSync open are lost, and Open
// fails with ErrLogMismatch. Small segments here; a log of the default
// CheckpointBytes spans eight of Open's 8 MiB segments. Leaving WAL mode
// (Open without WAL) does the same and then removes the whole log.
func TestLifecycleNoSyncOpenDropsReplayedLogRealWAL(t *testing.T) {
	const ps, n = 1024, 60
	dir := filepath.Join(t.TempDir(), "crash.db.wal")
	openLog := func() *wal.Log {
		lg, err := wal.Open(dir, wal.Options{SegmentSize: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		return lg
	}
	synced := &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
	st := newCrashStorage(t, tx.InitialImage(ps))
	lg := openLog()
	db, err := tx.OpenWithLog("crash.db", st, lg, synced)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	db.WALImageLimit = -1
	for i := 1; i <= n; i++ {
		mustUpdate(t, db, putNumbered(i))
	}
	// The process dies (its log records were synced by each commit).
	rng := rand.New(rand.NewPCG(20, 3))
	img := st.image(st.opCount(), imageSynced, ps, rng)
	_ = lg.Close()

	noSync := &Options{WAL: true, NoSync: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
	st2 := newCrashStorage(t, img)
	lg2 := openLog()
	db2, err := tx.OpenWithLog("crash.db", st2, lg2, noSync)
	if err != nil {
		t.Fatal(err)
	}
	if m := missingKeys(t, db2, n); len(m) > 0 {
		t.Fatalf("the NoSync open lacks %v", m)
	}
	// A power cut right after that Open returned: the file as synced; the
	// log as it is (more than survives a power cut: every byte written).
	img2 := st2.image(st2.opCount(), imageSynced, ps, rng)
	_ = lg2.Close()

	st3 := newCrashStorage(t, img2)
	lg3 := openLog()
	db3, err := tx.OpenWithLog("crash.db", st3, lg3, synced)
	if err != nil {
		_ = lg3.Close()
		t.Fatalf("open after a power cut that followed a NoSync open: %v", err)
	}
	defer db3.Close()
	if m := missingKeys(t, db3, n); len(m) > 0 {
		t.Fatalf("commits durable before a NoSync open were lost by a power cut after it: %d of %d", len(m), n)
	}
}

// TestLifecycleNoSyncCommitPublishesUnsyncedOne: NoSync may be changed
// between transactions. A commit k1 made with syncs waits for its log
// sync; a NoSync commit k2, begun on k1's state, publishes at once, and
// with it k1: readers see k1 before its commit returned, and after its
// sync failed and its caller got ErrSyncFailed they still do. A logged
// commit must not become visible before its sync (TestWALGroupCommit), nor
// after it failed (TestWALGroupCommitSyncFails).
func TestLifecycleNoSyncCommitPublishesUnsyncedOne(t *testing.T) {
	db, g, _ := openGated(t)
	g.hold()
	errs := make(chan error, 1)
	putHeld(t, db, g, errs, "k1", 1)
	db.NoSync = true // between transactions: k1's commit has read it
	k2 := make(chan error, 1)
	go func() { k2 <- putKey(db, "k2") }()
	var seen []string
	select {
	case err := <-k2:
		if err != nil && !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("k2: %v", err)
		}
		seen = visible(t, db, "k1")
	case <-time.After(100 * time.Millisecond):
		// k2 waits for k1's sync: nothing of k1 can show early.
	}
	g.release(errors.New("injected EIO"))
	if err := <-errs; !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("k1 over a failed sync returned %v, want ErrSyncFailed", err)
	}
	if len(seen) > 0 {
		t.Errorf("readers saw k1 while its log sync was in flight (a NoSync commit after it published it)")
	}
	if got := visible(t, db, "k1"); len(got) > 0 {
		t.Errorf("k1's commit failed with ErrSyncFailed, yet readers see it: %v", got)
	}
}

// TestLifecycleLeaveWALAfterFailedMetaSync is
// TestStaleDropAfterFailedMetaSync for an Open that leaves WAL
// mode (Options.WAL unset on a database with a log). A checkpoint's meta
// sync fails (ErrSyncFailed; the log is kept, as it must be: the page
// cache shows the checkpoint's meta, the disk does not). The program
// reopens the file, same boot, without WAL: Open replays nothing (every
// record is at most the cached meta's txid), closes, which skips its
// checkpoint (nothing past the checkpoint's txid, a free list written),
// and removes the log, durably (removeLogDir), with no sync of the file
// in between. A power cut then leaves the disk's older meta and no log:
// every commit since is lost, and the next Open succeeds without a word.
// (Emulated on the doubles as Open does it: OpenWithLog over the file,
// Close, the log removed, tx.Open.)
func TestLifecycleLeaveWALAfterFailedMetaSync(t *testing.T) {
	const ps = 1024
	// The reopen without WAL, same boot: Open's leaving path.
	st2, lg2, want := afterFailedMetaSync(t)
	leave := &Options{}
	db2, err := tx.OpenWithLog("a.db", st2, lg2, leave)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	// removeLogDir: the log is gone, durably. Then a power cut.
	st3 := newCrashStorage(t, st2.image(st2.opCount(), imageSynced, ps, nil))
	db3, err := tx.Open("a.db", st3, leave)
	if err != nil {
		t.Fatalf("open after the power cut: %v", err)
	}
	defer db3.Close()
	checkWant(t, "after leaving WAL mode and a power cut", db3, want)
}
