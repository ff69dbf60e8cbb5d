package folio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// openUnder counts this process's descriptors and mappings of files
// under dir (/proc/self/fd, /proc/self/maps): the database, its log
// segments, spares, the directories synced. Counting only those, not
// every descriptor and mapping, keeps the runtime's own (a heap arena,
// a poller) out of the count.
func openUnder(t testing.TB, dir string) (fds, maps int) {
	t.Helper()
	dir += string(filepath.Separator)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target+string(filepath.Separator), dir) {
			fds++
		}
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// The path is the last field; " (deleted)" may follow it.
		if i := strings.IndexByte(sc.Text(), '/'); i >= 0 && strings.HasPrefix(sc.Text()[i:]+string(filepath.Separator), dir) {
			maps++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fds, maps
}

// leakCheck runs cycle n times, after one run that starts whatever the
// runtime starts once, and fails the test if descriptors or mappings of
// files under dir, or goroutines, are left over. Goroutines get until a
// deadline to end (Close stops the log's spare maker, which may be
// between two writes).
func leakCheck(t *testing.T, dir string, n int, cycle func()) {
	t.Helper()
	cycle()
	goroutines := runtime.NumGoroutine()
	fds, maps := openUnder(t, dir)
	for range n {
		cycle()
	}
	if f, m := openUnder(t, dir); f != fds || m != maps {
		t.Errorf("%d cycles: descriptors of files under the test directory %d -> %d, mappings %d -> %d", n, fds, f, maps, m)
	}
	noLeak(t, goroutines)
}

// TestLeakOpenClose opens and closes databases, and fails to open them
// in every way Open can fail, and checks that nothing stays open:
// descriptors, mappings, the log's goroutine. (Measured over 200 cycles
// each: none left; 6 here, enough to see a leak of one per cycle.)
func TestLeakOpenClose(t *testing.T) {
	const cycles = 6
	// plain is a database of two commits, so that damage to the pages
	// of both fails Open: over one, Open would fall back to the other
	// meta (the empty database) and succeed.
	plain := func(t *testing.T, path string, opts *Options) {
		db, err := Open(path, 0o600, opts)
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 100 {
				if err := b.Put(fmt.Appendf(nil, "k%03d", i), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), []byte("y")) })
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(t *testing.T, path string, fn func([]byte) []byte) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fn(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// crashed leaves path as a crash after ten logged, synced commits
	// would: the file at its last checkpoint, the commits in the log.
	crashed := func(t *testing.T, path string, opts *Options) {
		live := path + ".live"
		db, err := Open(live, 0o600, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			mustPutIn(t, db, "b", fmt.Appendf(nil, "k%d", i), make([]byte, 300))
		}
		copyFile(t, live, path)
		copyLiveSegments(t, LogDir(live), LogDir(path))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ro := &Options{ReadOnly: true}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		opens []*Options // each fails with want
		want  error
	}{
		{"missing-directory", func(t *testing.T, path string) {}, []*Options{nil, walOpts(1024)}, os.ErrNotExist},
		{"random-bytes", func(t *testing.T, path string) { randomFile(t, path, 64<<10) },
			[]*Options{nil, walOpts(1024), ro}, ErrInvalid},
		{"both-metas-damaged", func(t *testing.T, path string) {
			plain(t, path, &Options{PageSize: 1024})
			edit(t, path, func(b []byte) []byte { b[100] ^= 0xff; b[1024+100] ^= 0xff; return b })
		}, []*Options{nil, walOpts(1024), ro}, ErrCorrupt},
		{"pages-damaged", func(t *testing.T, path string) {
			plain(t, path, &Options{PageSize: 1024})
			edit(t, path, func(b []byte) []byte {
				for i := 2048; i < len(b); i++ {
					b[i] ^= 0x55
				}
				return b
			})
		}, []*Options{nil, walOpts(1024), ro}, ErrCorrupt},
		{"truncated", func(t *testing.T, path string) {
			plain(t, path, &Options{PageSize: 1024})
			edit(t, path, func(b []byte) []byte { return b[:len(b)/2] })
		}, []*Options{nil, walOpts(1024), ro}, ErrCorrupt},
		{"shorter-than-a-page", func(t *testing.T, path string) {
			plain(t, path, &Options{PageSize: 1024})
			edit(t, path, func(b []byte) []byte { return b[:1000] })
		}, []*Options{nil, walOpts(1024), ro}, ErrInvalid},
		{"invalid-options", func(t *testing.T, path string) { plain(t, path, nil) },
			[]*Options{{PageSize: 1000}}, ErrInvalidOptions},
		{"log-pending", func(t *testing.T, path string) { crashed(t, path, walOpts(1024)) }, []*Options{ro}, ErrLogPending},
		{"log-of-another-file", func(t *testing.T, path string) { logOfAnotherFile(t, path, path+".other") },
			[]*Options{walOpts(1024), ro, nil}, ErrLogMismatch},
		{"log-record-damaged", func(t *testing.T, path string) {
			crashed(t, path, walOpts(1024))
			for _, seg := range walSegments(t, LogDir(path)) {
				if fr := walFrames(mustRead(t, seg)); len(fr) > 5 {
					f := fr[len(fr)/2]
					edit(t, seg, func(b []byte) []byte { b[f.off+32+int64(f.length)/2] ^= 0x10; return b })
					return
				}
			}
			t.Fatal("no segment holds the commits")
		}, []*Options{walOpts(1024), ro, nil}, ErrCorrupt},
		// A logical record that does not apply fails Open after the
		// database was built and published (replayOps), which closes it.
		{"log-operation-does-not-apply", func(t *testing.T, path string) {
			plain(t, path, logicalOpts())
			appendDropBucket(t, path)
		}, []*Options{logicalOpts(), nil}, ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.db")
			if c.name == "missing-directory" {
				path = filepath.Join(dir, "missing", "a.db")
			}
			c.setup(t, path)
			leakCheck(t, dir, cycles, func() {
				for _, opts := range c.opens {
					db, err := Open(path, 0o600, bounded(opts))
					if err == nil {
						_ = db.Close()
						t.Fatalf("open (%s) succeeded", describe(opts))
					}
					if !errors.Is(err, c.want) {
						t.Fatalf("open (%s): %v, want %v", describe(opts), err, c.want)
					}
				}
			})
		})
	}

	t.Run("locked", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "a.db")
		plain(t, path, nil)
		holder, err := Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		leakCheck(t, dir, cycles, func() {
			for _, opts := range []*Options{{Timeout: time.Millisecond}, {Timeout: -1, WAL: true}, {Timeout: -1, ReadOnly: true}} {
				if db, err := Open(path, 0o600, opts); !errors.Is(err, ErrTimeout) {
					if err == nil {
						_ = db.Close()
					}
					t.Fatalf("open (%s) of a locked file: %v, want ErrTimeout", describe(opts), err)
				}
			}
		})
	})

	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		opts  *Options
	}{
		{"direct", func(t *testing.T, path string) { plain(t, path, nil) }, nil},
		{"direct-read-only", func(t *testing.T, path string) { plain(t, path, nil) }, ro},
		{"wal", func(t *testing.T, path string) { plain(t, path, walOpts(1024)) }, walOpts(1024)},
		{"wal-read-only", func(t *testing.T, path string) { plain(t, path, walOpts(1024)) }, ro},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.db")
			c.setup(t, path)
			leakCheck(t, dir, cycles, func() {
				db, err := Open(path, 0o600, bounded(c.opts))
				if err != nil {
					t.Fatal(err)
				}
				if !db.IsReadOnly() {
					mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), []byte("z")) })
				}
				if err := db.View(func(tx *Tx) error { _ = tx.Bucket([]byte("b")).Get([]byte("x")); return nil }); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
	t.Run("leave-wal", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "a.db")
		leakCheck(t, dir, cycles/2, func() {
			crashed(t, path, walOpts(1024))
			db, err := Open(path, 0o600, bounded(nil)) // replays the log, then removes it
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + ".live", LogDir(path + ".live")} {
				if err := os.RemoveAll(p); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
}

func describe(opts *Options) string {
	if opts == nil {
		return "nil options"
	}
	return fmt.Sprintf("WAL %v, read-only %v, page size %d, timeout %v", opts.WAL, opts.ReadOnly, opts.PageSize, opts.Timeout)
}

// TestLeakCloseFailed makes Close fail (WAL mode, the file truncated
// underneath: its checkpoint refuses to write a meta, ErrCorrupt) and
// checks the state it leaves: everything released all the same, a
// second Close returns nil, every call after it ErrDatabaseNotOpen, and
// the log kept, so that the commits come back once the file does.
func TestLeakCloseFailed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	i := 0
	leakCheck(t, dir, 5, func() {
		i++
		db, err := Open(path, 0o600, bounded(walOpts(1024)))
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Appendf(nil, "k%d", i)
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := range 100 {
				if err := b.Put(fmt.Appendf(k, "-%d", j), make([]byte, 200)); err != nil {
					return err
				}
			}
			return b.Put(k, []byte("v"))
		})
		saved := mustRead(t, path)
		if err := os.Truncate(path, 2048); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Close over a truncated file: %v, want ErrCorrupt", err)
		}
		if fds, maps := openUnder(t, dir); fds != 0 || maps != 0 {
			t.Errorf("a failed Close left %d descriptors and %d mappings of the database and its log", fds, maps)
		}
		if err := db.Close(); err != nil {
			t.Errorf("a second Close: %v", err)
		}
		for what, err := range map[string]error{
			"View":       db.View(func(*Tx) error { return nil }),
			"Update":     db.Update(func(*Tx) error { return nil }),
			"Batch":      db.Batch(func(*Tx) error { return nil }),
			"Checkpoint": db.Checkpoint(),
			"Sync":       db.Sync(),
		} {
			if !errors.Is(err, ErrDatabaseNotOpen) {
				t.Errorf("%s after a failed Close: %v, want ErrDatabaseNotOpen", what, err)
			}
		}
		if err := os.WriteFile(path, saved, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err = Open(path, 0o600, bounded(walOpts(1024)))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.View(func(tx *Tx) error {
			if v := tx.Bucket([]byte("b")).Get(k); !bytes.Equal(v, []byte("v")) {
				return fmt.Errorf("%s = %q once the file is back, want v: the log lost the commit", k, v)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		closeChecked(t, db)
	})
}

// TestLifecycleRemapReleasedByReaders grows the file past its mapping
// while readers hold snapshots of the old one: each old mapping goes
// when its last reader ends, with no write after (a service that loads,
// then only reads). Before, they stayed until the next write
// transaction: here 3 mappings of the file where 1 is needed (4 over
// a file of 40 MiB).
func TestLifecycleRemapReleasedByReaders(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprint("wal=", walMode), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.db")
			db, err := Open(path, 0o600, &Options{NoSync: true, WAL: walMode})
			if err != nil {
				t.Fatal(err)
			}
			defer closeChecked(t, db)
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			val := make([]byte, 1<<20)
			var readers []*Tx
			for i := range 20 { // 20 MiB: the file outgrows a map of 16 MiB, then 32
				if i%4 == 0 {
					r, err := db.Begin(false)
					if err != nil {
						t.Fatal(err)
					}
					readers = append(readers, r)
				}
				mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "%d", i), val) })
			}
			if _, maps := openUnder(t, dir); maps < 2 {
				t.Fatalf("%d mappings of the file with readers on old ones: the file did not outgrow its mapping", maps)
			}
			for _, r := range readers {
				if err := r.Rollback(); err != nil {
					t.Fatal(err)
				}
			}
			if _, maps := openUnder(t, dir); maps != 1 {
				t.Errorf("%d mappings of the file once every reader ended, want 1", maps)
			}
			// The reads go on over the current mapping.
			if err := db.View(func(tx *Tx) error {
				if v := tx.Bucket([]byte("b")).Get([]byte("0")); len(v) != len(val) {
					return fmt.Errorf("value of %d bytes, want %d", len(v), len(val))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
