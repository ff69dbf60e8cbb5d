package folio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lifecycle tests of a long-running program's view: what Open leaves
// behind when it fails or leaves WAL mode, and what each caller of a DB
// gets while it closes. The checks of descriptors, mappings and
// goroutines against /proc are in lifecycle_leak_linux_test.go.

// randomFile writes n bytes that are no database at path.
func randomFile(t testing.TB, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7919 + i>>3)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// bounded is opts with a Timeout, so that a descriptor or a mapping left
// holding the file's lock (a mapping holds the open file, and flock's
// lock with it) fails the next open (ErrTimeout) instead of hanging it.
func bounded(opts *Options) *Options {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.Timeout = 2 * time.Second
	return &o
}

// TestLifecycleFailedOpenLeavesNoLog: a first WAL-mode open of a file
// that turns out not to be a database must not leave the log directory
// it made. Left there, it kept a preallocated 8 MiB segment beside the
// file and sent every later open, WAL or not, through the log. A log
// that was there before a failed open is left alone (it may hold
// commits: here, another file's, ErrLogMismatch).
func TestLifecycleFailedOpenLeavesNoLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	randomFile(t, path, 64<<10)
	for _, opts := range []*Options{walOpts(1024), nil} {
		if db, err := Open(path, 0o600, bounded(opts)); err == nil {
			_ = db.Close()
			t.Fatal("opened a file of random bytes")
		}
		if _, err := os.Stat(LogDir(path)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed open (WAL %v) left the log directory behind (%v)", opts != nil, err)
		}
	}

	a, b := filepath.Join(dir, "x.db"), filepath.Join(dir, "y.db")
	logOfAnotherFile(t, a, b)
	if db, err := Open(a, 0o600, bounded(walOpts(1024))); !errors.Is(err, ErrLogMismatch) {
		if err == nil {
			_ = db.Close()
		}
		t.Fatalf("open beside another file's log: %v, want ErrLogMismatch", err)
	}
	if len(walSegments(t, LogDir(a))) == 0 {
		t.Fatal("a failed open removed a log it did not make")
	}
}

// logOfAnotherFile makes databases a and b by the same steps, then puts
// beside a the log of b holding one more commit, as
// TestWALLogOfAnotherFile does: opening a fails with ErrLogMismatch.
func logOfAnotherFile(t testing.TB, a, b string) {
	t.Helper()
	for _, p := range []string{a, b} {
		db, err := Open(p, 0o600, walOpts(1024))
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *Tx) error {
			bk, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("who"), []byte(p))
		})
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(b, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), []byte("y")) })
	if err := os.RemoveAll(LogDir(a)); err != nil {
		t.Fatal(err)
	}
	copyDir(t, LogDir(b), LogDir(a))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLifecycleLeaveWALKeepsTheLock: an open without WAL of a file with
// a log replays it, removes it and goes on without it, holding the
// file's lock all along. It used to close the database first, which let
// the lock go before the log was removed: a WAL-mode opener taking the
// lock in between (another process, or another DB in this one) would
// have the log it had just begun, with commits it had acknowledged,
// removed under it. Here: the lock is taken once, and a WAL-mode open
// racing the leave either waits for it or fails with ErrTimeout.
func TestLifecycleLeaveWALKeepsTheLock(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustCreatePut(t, db, "b", "k", "v")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var locks atomic.Int32
	var unlocked atomic.Bool // the file was let go in the middle of the open
	orig := lockFile
	t.Cleanup(func() { lockFile = orig })
	lockFile = func(f *os.File, exclusive bool, wait time.Duration) error {
		if f.Name() == path && locks.Add(1) > 1 {
			// Anyone could have taken the lock now: try.
			if g, err := os.Open(path); err == nil {
				if flock(g, true, -1) == nil {
					unlocked.Store(true)
				}
				_ = g.Close()
			}
		}
		return orig(f, exclusive, wait)
	}
	db, err = Open(path, 0o600, nil)
	lockFile = orig
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if n := locks.Load(); n != 1 || unlocked.Load() {
		t.Errorf("leaving WAL mode took the file's lock %d times (let go in between: %v), "+
			"leaving the log open to another opener before it was removed", n, unlocked.Load())
	}
	if _, err := os.Stat(LogDir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the log is still there: %v", err)
	}
	if other, err := Open(path, 0o600, &Options{WAL: true, Timeout: -1}); !errors.Is(err, ErrTimeout) {
		if err == nil {
			_ = other.Close()
		}
		t.Errorf("a WAL-mode open beside the open database: %v, want ErrTimeout", err)
	}
	if err := db.View(func(tx *Tx) error {
		if got := tx.Bucket([]byte("b")).Get([]byte("k")); string(got) != "v" {
			return fmt.Errorf("k = %q after leaving WAL mode, want v", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestLifecycleCloseWhileBusyWAL is TestCloseWhileBusy in WAL mode, with
// Checkpoint and Sync callers too: Batch and Update callers, a
// goroutine checkpointing, readers syncing inside View, and two Closes.
// Close waits for the commits in flight (their log syncs included) and
// checkpoints; every call returns nil or ErrDatabaseNotOpen naming the
// file (Checkpoint's did not name it); no goroutine is left; every
// acknowledged write is in the file, with no log to replay.
func TestLifecycleCloseWhileBusyWAL(t *testing.T) {
	before := runtime.NumGoroutine()
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: true, CheckpointBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	var mu sync.Mutex
	acked := map[string]bool{}
	closedErr := func(who string, err error) {
		if !errors.Is(err, ErrDatabaseNotOpen) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s after Close: %v, want ErrDatabaseNotOpen naming %s", who, err, path)
		}
	}
	const callers = 10
	var wg sync.WaitGroup
	started := make(chan struct{}, callers)
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if i == 2 {
					started <- struct{}{}
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				put := func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), make([]byte, 100)) }
				var err error
				who := "Batch"
				switch w % 4 {
				case 0, 1:
					err = db.Batch(put)
				case 2:
					who, err = "Update", db.Update(put)
				case 3:
					who = "View or Sync"
					err = db.View(func(tx *Tx) error {
						_ = tx.Bucket([]byte("b")).Get([]byte("w0-0"))
						if i%2 == 0 {
							return db.Sync()
						}
						return nil
					})
					if i%5 == 0 && err == nil {
						who, err = "Checkpoint", db.Checkpoint()
					}
				}
				if err != nil {
					closedErr(who, err)
					return
				}
				if w%4 < 3 {
					mu.Lock()
					acked[k] = true
					mu.Unlock()
				}
			}
		}()
	}
	for range callers {
		<-started
	}
	closeErrs := make(chan error, 2)
	for range 2 {
		go func() { closeErrs <- db.Close() }()
	}
	for range 2 {
		if err := <-closeErrs; err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	wg.Wait()
	noLeak(t, before)
	// Each call once more, whichever the busy ones met.
	closedErr("View", db.View(func(*Tx) error { return nil }))
	closedErr("Update", db.Update(func(*Tx) error { return nil }))
	closedErr("Batch", db.Batch(func(*Tx) error { return nil }))
	closedErr("Checkpoint", db.Checkpoint())
	closedErr("Sync", db.Sync())

	db, err = Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for k := range acked {
			if b.Get([]byte(k)) == nil {
				t.Errorf("acknowledged key %s lost", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if in, err := db.Info(); err != nil || in.LogPending != 0 {
		t.Errorf("after Close the log holds %d commits past the checkpoint (%v)", in.LogPending, err)
	}
}
