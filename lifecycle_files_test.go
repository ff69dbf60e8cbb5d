package folio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mmapCase is Options no mapping of the file can honour, and the
// field the error must name.
type mmapCase struct {
	name  string
	opts  Options
	field string
}

// mmapCases are the cases every Unix has: flags that would not
// map the file shared at an address of the kernel's choosing (MAP_FIXED
// maps over address 0, or whatever is there; MAP_ANON maps zeros, not the
// file; MAP_PRIVATE asks for a copy), and a mapping bigger than any
// address space.
func mmapCases() []mmapCase {
	return []mmapCase{
		{"MAP_FIXED", Options{MmapFlags: unix.MAP_FIXED}, "MmapFlags"},
		{"MAP_ANON", Options{MmapFlags: unix.MAP_ANON}, "MmapFlags"},
		{"MAP_PRIVATE", Options{MmapFlags: unix.MAP_PRIVATE}, "MmapFlags"},
		{"MAP_ANON|MAP_SHARED", Options{MmapFlags: unix.MAP_ANON | unix.MAP_SHARED}, "MmapFlags"},
		{"InitialMmapSize MaxInt", Options{InitialMmapSize: math.MaxInt}, "InitialMmapSize"},
	}
}

// checkMmapOptions opens a new and an existing file with each
// case: ErrInvalidOptions naming the field and the path, no file left
// where there was none (nor a temporary one beside it), and the existing
// file untouched and still opening with default options.
func checkMmapOptions(t *testing.T, cases []mmapCase) {
	t.Helper()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	db, err := Open(existing, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	mustCreatePut(t, db, "b", "k", "v")
	before := imageAfterClose(t, db)
	for _, c := range cases {
		fresh := filepath.Join(dir, "new.db")
		for _, path := range []string{fresh, existing} {
			for _, ro := range []bool{false, true} {
				if path == fresh && ro {
					continue // fs.ErrNotExist, checked elsewhere
				}
				o := c.opts
				o.ReadOnly = ro
				db, err := Open(path, 0o600, &o)
				if err == nil {
					_ = db.Close()
					t.Errorf("%s, %s, read-only %v: opened", c.name, path, ro)
				} else if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s, %s, read-only %v: %v; want ErrInvalidOptions naming %s and the path", c.name, path, ro, err, c.field)
				}
			}
		}
		if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a refused Open left %s (%v)", c.name, fresh, err)
			_ = os.Remove(fresh)
		}
		if left, _ := filepath.Glob(fresh + "*"); len(left) > 0 {
			t.Errorf("%s: a refused Open left %v", c.name, left)
			for _, p := range left {
				_ = os.RemoveAll(p)
			}
		}
		if now, err := os.ReadFile(existing); err != nil || string(now) != string(before) {
			t.Fatalf("%s: the existing file changed (%v)", c.name, err)
		}
	}
	db, err = Open(existing, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
			return errors.New("the existing file lost its key")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	closeChecked(t, db)
}

// TestLifecycleMmapOptions: Options.MmapFlags and InitialMmapSize that
// no mapping of the file can honour are ErrInvalidOptions naming the
// field, from every Open, and create nothing. Until 2026-12-07 a new
// file was created first and left behind, and the error was the raw
// mmap one (ENOMEM, EINVAL); MAP_ANON mapped zeros, so the file was
// reported as not a folio database, and MAP_FIXED mapped over address 0
// and crashed the process.
func TestLifecycleMmapOptions(t *testing.T) {
	checkMmapOptions(t, mmapCases())
}

// cutFixture is a database of a few commits at path, with 4 KiB
// pages, open in direct mode.
func cutFixture(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, 0o600, &Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := db.Update(fillDeep(i*1000, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestLifecycleCloseAfterFileCut: Close of a DB whose file another
// process cut below its two meta pages returns ErrCorrupt naming the
// file. It read the older meta through the mapping, past the file's end,
// and the process died of SIGBUS.
func TestLifecycleCloseAfterFileCut(t *testing.T) {
	for _, cut := range []int64{0, 4096} {
		path := filepath.Join(t.TempDir(), "cut.db")
		db := cutFixture(t, path)
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		err := db.Close()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("cut to %d bytes: Close: %v; want ErrCorrupt naming the file", cut, err)
		}
		wantIs(t, "View after Close", db.View(func(*Tx) error { return nil }), ErrDatabaseNotOpen)
		if err := db.Close(); err != nil {
			t.Errorf("cut to %d bytes: second Close: %v", cut, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != cut {
			t.Errorf("cut to %d bytes: after Close: %v, %v; want the file left as it was", cut, fi, err)
		}
	}
}

// TestLifecycleWriteToAfterFileCut: Tx.WriteTo from a Begin
// transaction over a file cut underneath returns ErrCorrupt naming the
// file, whatever the writer does with the bytes (a bytes.Buffer copies
// them in WriteTo's goroutine, an io.Pipe in its reader's). The copy
// read the mapping unguarded (View's guard covers View only), and the
// process died of SIGBUS.
func TestLifecycleWriteToAfterFileCut(t *testing.T) {
	for _, w := range []string{"buffer", "pipe"} {
		path := filepath.Join(t.TempDir(), "cut.db")
		db := cutFixture(t, path)
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 8192); err != nil {
			t.Fatal(err)
		}
		switch w {
		case "buffer":
			var buf bytes.Buffer
			_, err = tx.WriteTo(&buf)
		case "pipe":
			pr, pw := io.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = io.Copy(io.Discard, pr)
			}()
			_, err = tx.WriteTo(pw)
			_ = pw.Close()
			<-done
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: WriteTo: %v; want ErrCorrupt naming the file", w, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	}
}

// The child side of TestLifecycleTwoProcesses: with FOLIO_LIFECYCLE_CHILD
// naming a database, it opens it as FOLIO_LIFECYCLE_CHILD_MODE says ("rw",
// "wal" or "ro"), commits key "child" unless read-only, prints "opened",
// and closes it when its standard input ends.
const lifecycleChildEnv = "FOLIO_LIFECYCLE_CHILD"

func TestLifecycleChild(t *testing.T) {
	path := os.Getenv(lifecycleChildEnv)
	if path == "" {
		t.Skip("the child of TestLifecycleTwoProcesses; runs only when it starts it")
	}
	mode := os.Getenv(lifecycleChildEnv + "_MODE")
	db, err := Open(path, 0o600, &Options{PageSize: 1024, ReadOnly: mode == "ro", WAL: mode == "wal"})
	if err != nil {
		t.Fatal(err)
	}
	if mode != "ro" {
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte("child"), []byte(mode))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stdout.WriteString("opened\n"); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// lifecycleChild is a child process holding the database open.
type lifecycleChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   strings.Builder
}

// startLifecycleChild starts the child on path in mode and returns once
// it has the database open.
func startLifecycleChild(t *testing.T, path, mode string) *lifecycleChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &lifecycleChild{cmd: exec.Command(exe, "-test.run=^TestLifecycleChild$", "-test.count=1")}
	c.cmd.Env = append(os.Environ(), lifecycleChildEnv+"="+path, lifecycleChildEnv+"_MODE="+mode)
	c.cmd.Stderr = &c.out
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "opened" {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return c
		}
	}
	_ = c.cmd.Wait()
	t.Fatalf("the %s child did not open %s: %s", mode, path, c.out.String())
	return nil
}

// close lets the child close the database and waits for it to exit.
func (c *lifecycleChild) close(t *testing.T) {
	t.Helper()
	_ = c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, c.out.String())
	}
}

// kill SIGKILLs the child, holding the database open, and reaps it.
func (c *lifecycleChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// getChildKey reads key "child" of bucket "b" in path, opened with opts.
func getChildKey(t *testing.T, path string, opts *Options) string {
	t.Helper()
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatalf("open %+v: %v", *opts, err)
	}
	defer closeChecked(t, db)
	var v string
	if err := db.View(func(tx *Tx) error {
		if b := tx.Bucket([]byte("b")); b != nil {
			v = string(b.Get([]byte("child")))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLifecycleTwoProcesses opens a database another process holds:
// beside a writer, every open (read-write or read-only) with Timeout < 0
// or > 0 is ErrTimeout naming the file, and one with Timeout 0 waits and
// then opens the writer's commit; beside a read-only process, read-only
// opens share the file and a writer waits; a writer killed while holding
// the lock (direct or WAL mode) leaves it to the kernel, which lets it go:
// the next open, trying the lock once, recovers the commit it made.
func TestLifecycleTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "two.db")

	c := startLifecycleChild(t, path, "rw")
	for _, o := range []Options{{Timeout: -1}, {Timeout: -1, ReadOnly: true}, {Timeout: 50 * time.Millisecond}, {Timeout: 50 * time.Millisecond, ReadOnly: true}} {
		db, err := Open(path, 0o600, &o)
		if err == nil {
			_ = db.Close()
			t.Errorf("beside a writer, %+v: opened", o)
		} else if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), path) {
			t.Errorf("beside a writer, %+v: %v; want ErrTimeout naming the file", o, err)
		}
	}
	// Timeout 0 waits (while the child runs, if it starts first).
	opened := make(chan *DB, 1)
	go func() {
		db, err := Open(path, 0o600, &Options{ReadOnly: true})
		if err != nil {
			t.Errorf("a read-only open waiting for the writer: %v", err)
		}
		opened <- db
	}()
	c.close(t)
	if db := <-opened; db != nil {
		_ = db.Close()
	}
	if v := getChildKey(t, path, &Options{ReadOnly: true, Timeout: -1}); v != "rw" {
		t.Errorf("after the writer closed: reads %q, want its commit", v)
	}

	c = startLifecycleChild(t, path, "ro")
	if v := getChildKey(t, path, &Options{ReadOnly: true, Timeout: -1}); v != "rw" {
		t.Errorf("beside a read-only process: reads %q", v)
	}
	if db, err := Open(path, 0o600, &Options{Timeout: -1}); !errors.Is(err, ErrTimeout) {
		if err == nil {
			_ = db.Close()
		}
		t.Errorf("a writer beside a read-only process: %v; want ErrTimeout", err)
	}
	c.close(t)

	for _, mode := range []string{"rw", "wal"} {
		c = startLifecycleChild(t, path, mode)
		c.kill(t)
		if mode == "wal" {
			// Its commit is in the log only: a read-only open may not
			// replay it.
			if db, err := Open(path, 0o600, &Options{ReadOnly: true, Timeout: -1}); !errors.Is(err, ErrLogPending) || !strings.Contains(err.Error(), path) {
				if err == nil {
					_ = db.Close()
				}
				t.Errorf("read-only after a WAL-mode writer was killed: %v; want ErrLogPending naming the file", err)
			}
		}
		if v := getChildKey(t, path, &Options{Timeout: -1}); v != mode {
			t.Errorf("after a %s writer was killed: reads %q, want its commit", mode, v)
		}
	}
}

// TestLifecycleLogOfReplacedFile: the file of a WAL-mode DB is
// replaced by rename while it is open (a backup restored in place, a
// copy moved over it), and the path opened again. The new file has a
// lock of its own, but the log beside it is the open DB's: an Open that
// took it (no WAL: replayed and removed it under the DB appending to it;
// WAL: appended beside it) is ErrTimeout naming the log, and the DB's
// log and commits go on. Until 2026-12-07 both opens succeeded.
func TestLifecycleLogOfReplacedFile(t *testing.T) {
	for _, wal := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.db")
		db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		put := func(db *DB, k string) error {
			return db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				return b.Put([]byte(k), []byte("v"))
			})
		}
		if err := put(db, "before"); err != nil {
			t.Fatal(err)
		}
		if err := db.View(func(tx *Tx) error { return tx.CopyFile(path+".copy", 0o600) }); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".copy", path); err != nil {
			t.Fatal(err)
		}
		other, err := Open(path, 0o600, &Options{WAL: wal, Timeout: -1})
		if err == nil {
			_ = put(other, "other")
			_ = other.Close()
			t.Errorf("WAL %v: an open of the new file beside the open DB's log succeeded", wal)
		} else if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), LogDir(path)) {
			t.Errorf("WAL %v: %v; want ErrTimeout naming the log", wal, err)
		}
		if err := put(db, "after"); err != nil {
			t.Errorf("WAL %v: the open DB's commit: %v", wal, err)
		}
		if in, err := db.Info(); err != nil || in.LogPending != 2 {
			t.Errorf("WAL %v: the open DB's log holds %d commits (%v), want 2", wal, in.LogPending, err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("WAL %v: Close: %v", wal, err)
		}
	}
}

// TestLifecycleCopyFileAfterMove: the file of an open DB is removed,
// or renamed away, while open. CopyFile to the path it was at saves the
// database (it was refused as a copy onto itself, leaving an empty file
// there), and CopyFile to its new name is ErrCopyOntoDB (it truncated
// the live file, which the DB went on reading: every key was lost).
func TestLifecycleCopyFileAfterMove(t *testing.T) {
	for _, wal := range []bool{false, true} {
		for _, how := range []string{"removed", "renamed"} {
			what := fmt.Sprintf("WAL %v, %s", wal, how)
			dir := t.TempDir()
			path := filepath.Join(dir, "app.db")
			moved := filepath.Join(dir, "moved.db")
			db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: wal})
			if err != nil {
				t.Fatal(err)
			}
			mustCreatePut(t, db, "b", "k", "v")
			if how == "removed" {
				err = os.Remove(path)
			} else {
				err = os.Rename(path, moved)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := db.View(func(tx *Tx) error { return tx.CopyFile(path, 0o600) }); err != nil {
				t.Errorf("%s: CopyFile to the path it was at: %v", what, err)
			}
			if how == "renamed" {
				err := db.View(func(tx *Tx) error { return tx.CopyFile(moved, 0o600) })
				if !errors.Is(err, ErrCopyOntoDB) {
					t.Errorf("%s: CopyFile to its new name: %v; want ErrCopyOntoDB", what, err)
				}
			}
			if err := db.View(func(tx *Tx) error {
				if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
					return fmt.Errorf("%s: the open DB reads %q", what, v)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			closeChecked(t, db)
			if v := getKeyOfB(t, path, "k"); v != "v" {
				t.Errorf("%s: the copy at the old path reads %q", what, v)
			}
		}
	}
}

// getKeyOfB reads key k of bucket "b" in path.
func getKeyOfB(t *testing.T, path, k string) string {
	t.Helper()
	db, err := Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.View(func(tx *Tx) error {
		if b := tx.Bucket([]byte("b")); b != nil {
			v = string(b.Get([]byte(k)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLifecycleCloseWhileBusy closes a DB while goroutines run View,
// Update, Batch, Begin, Sync, Checkpoint, Info and Stats in loops, in
// both modes: every call returns nil or ErrDatabaseNotOpen naming the
// file, none hangs, and Close, waiting for the read transaction held
// open meanwhile, leaves Path, String, IsReadOnly, PageSize and Stats
// answering throughout; a second Close (concurrent, then later) is nil,
// and every Update and Batch that returned nil is in the file.
func TestLifecycleCloseWhileBusy(t *testing.T) {
	for _, wal := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "busy.db")
		db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: wal})
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
		held, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]func(i int) error{
			"View": func(int) error {
				return db.View(func(tx *Tx) error { _ = tx.Bucket([]byte("b")).Get([]byte("k")); return nil })
			},
			"Update": func(i int) error {
				return db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "u%d", i), []byte("v")) })
			},
			"Batch": func(i int) error {
				return db.Batch(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "b%d", i), []byte("v")) })
			},
			"Begin": func(int) error {
				tx, err := db.Begin(false)
				if err == nil {
					err = tx.Rollback()
				}
				return err
			},
			"Sync":       func(int) error { return db.Sync() },
			"Checkpoint": func(int) error { return db.Checkpoint() },
			"Info":       func(int) error { _, err := db.Info(); return err },
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var stopped, committed []string
		for name, call := range calls {
			for g := 0; g < 2; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// NB: a loop that saw stop (Close has returned)
					// calls once more, which must fail: one whose last
					// call succeeded before Close began, and which ran
					// again only after stop, returned without an error,
					// and was counted against the DB (on a busy machine).
					afterStop := false
					for i := 0; ; i++ {
						err := call(i)
						if err == nil && (name == "Update" || name == "Batch") {
							mu.Lock()
							committed = append(committed, fmt.Sprintf("%c%d", name[0]|0x20, i))
							mu.Unlock()
						}
						if err == nil {
							select {
							case <-stop:
								if afterStop {
									t.Errorf("WAL %v: %s succeeded after Close returned", wal, name)
									return
								}
								afterStop = true
							default:
							}
							continue
						}
						if !errors.Is(err, ErrDatabaseNotOpen) || !strings.Contains(err.Error(), path) {
							t.Errorf("WAL %v: %s: %v; want nil or ErrDatabaseNotOpen naming the file", wal, name, err)
						}
						mu.Lock()
						stopped = append(stopped, name)
						mu.Unlock()
						return
					}
				}()
			}
		}
		closed := make(chan error, 2)
		go func() { closed <- db.Close() }()
		go func() { closed <- db.Close() }()
		// Close waits for held; meanwhile the plain accessors answer.
		for range 100 {
			if db.Path() != path || db.String() == "" || db.IsReadOnly() || db.PageSize() != 1024 {
				t.Fatalf("WAL %v: while closing: Path %q, String %q, IsReadOnly %v, PageSize %d", wal, db.Path(), db.String(), db.IsReadOnly(), db.PageSize())
			}
			_ = db.Stats()
			runtime.Gosched()
		}
		if v := held.Bucket([]byte("b")); v == nil {
			t.Errorf("WAL %v: the held transaction lost its bucket while Close waited", wal)
		}
		if err := held.Rollback(); err != nil {
			t.Error(err)
		}
		for range 2 {
			if err := <-closed; err != nil {
				t.Errorf("WAL %v: Close: %v", wal, err)
			}
		}
		close(stop)
		wg.Wait()
		if len(stopped) != 2*len(calls) {
			t.Errorf("WAL %v: %d of %d loops saw ErrDatabaseNotOpen", wal, len(stopped), 2*len(calls))
		}
		if err := db.Close(); err != nil {
			t.Errorf("WAL %v: third Close: %v", wal, err)
		}
		if db.Path() != path || db.IsReadOnly() || db.Stats().OpenTxN != 0 {
			t.Errorf("WAL %v: after Close: Path %q, IsReadOnly %v, OpenTxN %d", wal, db.Path(), db.IsReadOnly(), db.Stats().OpenTxN)
		}
		// Every Update and Batch that returned nil is in the file.
		rdb, err := Open(path, 0o600, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.View(func(tx *Tx) error {
			for _, k := range committed {
				if v := tx.Bucket([]byte("b")).Get([]byte(k)); string(v) != "v" {
					return fmt.Errorf("WAL %v: %s, committed before Close, reads %q", wal, k, v)
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		_ = rdb.Close()
	}
}

// TestLifecycleLogLockUnsupported: on a file system that cannot lock
// a directory (NFS refuses an exclusive lock on a descriptor not open for
// writing), WAL mode works on the file's lock alone, as before the log
// had a lock of its own.
func TestLifecycleLogLockUnsupported(t *testing.T) {
	defer func(old func(*os.File, bool, time.Duration) error) { lockFile = old }(lockFile)
	old := lockFile
	refused := 0
	lockFile = func(f *os.File, exclusive bool, timeout time.Duration) error {
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			refused++
			return os.NewSyscallError("flock", syscall.EBADF)
		}
		return old(f, exclusive, timeout)
	}
	path := filepath.Join(t.TempDir(), "nfs.db")
	for i := range 2 {
		db, err := Open(path, 0o600, &Options{WAL: true, PageSize: 1024})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		mustPutIn(t, db, "b", fmt.Appendf(nil, "k%d", i), []byte("v"))
		closeChecked(t, db)
	}
	if refused != 2 {
		t.Errorf("the log's lock was tried %d times, want 2", refused)
	}
	if getKeyOfB(t, path, "k0") != "v" || getKeyOfB(t, path, "k1") != "v" {
		t.Error("commits lost")
	}
}

// TestLifecycleOddPaths opens paths no database can be at, in every
// mode: a missing file read-only (fs.ErrNotExist), a missing directory,
// /dev/null, a directory with a trailing slash (ErrInvalid), a symbolic
// link to itself and a loop of two (ELOOP). Each error names the path,
// and nothing is created: no file, no log, no temporary file.
func TestLifecycleOddPaths(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, l := range [][2]string{{loop, loop}, {b, a}, {a, b}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		ro   []bool
		want error
	}{
		{filepath.Join(dir, "missing.db"), []bool{true}, os.ErrNotExist},
		{filepath.Join(dir, "nodir", "x.db"), []bool{false, true}, os.ErrNotExist},
		{"/dev/null", []bool{false, true}, ErrInvalid},
		{sub + "/", []bool{false, true}, ErrInvalid},
		{loop, []bool{false, true}, syscall.ELOOP},
		{a, []bool{false, true}, syscall.ELOOP},
	}
	for _, c := range cases {
		for _, ro := range c.ro {
			for _, wal := range []bool{false, true} {
				db, err := Open(c.path, 0o600, &Options{ReadOnly: ro, WAL: wal, Timeout: -1})
				if err == nil {
					_ = db.Close()
					t.Errorf("%s, read-only %v, WAL %v: opened", c.path, ro, wal)
					continue
				}
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), strings.TrimSuffix(c.path, "/")) {
					t.Errorf("%s, read-only %v, WAL %v: %v; want %v naming the path", c.path, ro, wal, err, c.want)
				}
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "a b loop sub" {
		t.Errorf("the directory holds %s; want a b loop sub", got)
	}
	if ents, _ := os.ReadDir(sub); len(ents) != 0 {
		t.Errorf("%s holds %d entries", sub, len(ents))
	}
}
