package folio

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/foliodb/folio/tx"
)

// closeSyncLog is a log whose syncs fail once fail is set, and whose
// Close syncs what was appended first, as package wal's does.
type closeSyncLog struct {
	tx.Log
	mu   sync.Mutex
	fail error
}

func (l *closeSyncLog) SyncTo(lsn uint64) error {
	l.mu.Lock()
	err := l.fail
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.Log.SyncTo(lsn)
}

func (l *closeSyncLog) Close() error {
	err := l.SyncTo(l.LastLSN())
	if cerr := l.Log.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close in WAL mode ends with a sync of the log (the anchor its
// checkpoint appended): a failure there is a failed sync, ErrSyncFailed,
// and said so; it was reported as the checkpoint's error, without the
// sentinel.
func TestWALCloseLogSyncFailed(t *testing.T) {
	st := newCrashStorage(t, tx.InitialImage(1024))
	lg := &closeSyncLog{Log: newCrashLog(st)}
	db, err := tx.OpenWithLog("close.db", st, lg, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustCreatePut(t, db, "b", "k", "v")
	eio := &os.PathError{Op: "fdatasync", Path: "close.db.wal/0000000000000001.wal", Err: syscall.EIO}
	lg.mu.Lock()
	lg.fail = eio
	lg.mu.Unlock()
	err = db.Close()
	if !errors.Is(err, ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close with a failing log sync: %v, want ErrSyncFailed wrapping EIO", err)
	}
	if strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("Close's error %q blames the checkpoint, which succeeded", err)
	}
}

// Every method of a nil *DB (an Open whose error went unchecked) returns
// ErrDatabaseNotOpen or a zero value: each panicked with a nil pointer.
func TestNilDBMethodsRefuse(t *testing.T) {
	var db *DB
	fn := func(*Tx) error { return nil }
	calls := map[string]func() error{
		"Begin(false)": func() error { _, err := db.Begin(false); return err },
		"Begin(true)":  func() error { _, err := db.Begin(true); return err },
		"View":         func() error { return db.View(fn) },
		"Update":       func() error { return db.Update(fn) },
		"Batch":        func() error { return db.Batch(fn) },
		"Sync":         func() error { return db.Sync() },
		"Checkpoint":   func() error { return db.Checkpoint() },
		"Info":         func() error { _, err := db.Info(); return err },
		"Close":        func() error { return db.Close() },
	}
	for name, call := range calls {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			err = call()
		}()
		if !errors.Is(err, ErrDatabaseNotOpen) {
			t.Errorf("%s on a nil *DB: %v, want ErrDatabaseNotOpen", name, err)
		}
	}
	zero := map[string]func() any{
		"Path":       func() any { return db.Path() },
		"IsReadOnly": func() any { return db.IsReadOnly() },
		"PageSize":   func() any { return db.PageSize() },
		"Stats":      func() any { return db.Stats() },
	}
	for name, call := range zero {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s on a nil *DB panicked: %v", name, r)
				}
			}()
			if got := call(); !reflect.ValueOf(got).IsZero() {
				t.Errorf("%s on a nil *DB: %v, want the zero value", name, got)
			}
		}()
	}
}

// A value read in a write transaction and used in its OnCommit handler,
// by a commit that grew the file past the mapping: the commit mapped the
// file anew and dropped the old mapping, which no reader held, before
// the handlers ran, so the value pointed into unmapped memory (a fault,
// which commitManaged turned into a panic). The old mapping is now kept
// until the handlers have run.
func TestOnCommitValueAcrossRemap(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			opts := &Options{PageSize: 4096}
			if walMode {
				opts = walOpts(4096)
			}
			db := openTest(t, opts)
			want := bytes.Repeat([]byte("v"), 200)
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), want)
			})
			var got []byte
			var fault any
			mustUpdate(t, db, func(tx *Tx) error {
				v := tx.Bucket([]byte("b")).Get([]byte("k"))
				// Past the 16 MiB the file is first mapped for, in
				// another bucket (a change to v's would end v's
				// validity, README says).
				big, err := tx.CreateBucket([]byte("big"))
				if err != nil {
					return err
				}
				if err := big.Put([]byte("big"), make([]byte, 24<<20)); err != nil {
					return err
				}
				tx.OnCommit(func() {
					defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
					defer func() { fault = recover() }()
					got = bytes.Clone(v)
				})
				return nil
			})
			if fault != nil {
				t.Fatalf("reading a value of the transaction in its OnCommit handler: %v", fault)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("OnCommit read %q, want %q", got, want)
			}
		})
	}
}

// openReopenedWAL opens a new WAL-mode database (4 KiB pages), closes it
// and opens it again. Reopened, the log appends to the segment it has: a
// new log leaves its first (cold) segment for a warm spare once one is
// ready, and a checkpoint could then drop every record before it.
func openReopenedWAL(t *testing.T) (string, *DB) {
	t.Helper()
	path := tempPath(t)
	db, err := Open(path, 0o600, walOpts(4096))
	if err != nil {
		t.Fatal(err)
	}
	closeChecked(t, db)
	if db, err = Open(path, 0o600, walOpts(4096)); err != nil {
		t.Fatal(err)
	}
	return path, db
}

// crashCopy copies the file at path and its log as they are while db
// is open (the image a crash would leave), checks and closes db, and
// returns the copy's path.
func crashCopy(t *testing.T, db *DB, path string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img.db")
	copyFile(t, path, img)
	copyDir(t, LogDir(path), LogDir(img))
	closeChecked(t, db)
	return img
}

// damagedLogFile makes a WAL-mode database whose log holds commits
// a and b, the anchor of a checkpoint after them, then commits c and d,
// every record synced, and returns a crash image of it (file and log
// copied while open) with the payload of the log record of commit
// damaged ("a" or "c") flipped, or for "c header" that record's LSN in
// its frame header.
func damagedLogFile(t *testing.T, damaged string) string {
	t.Helper()
	path, db := openReopenedWAL(t)
	put := func(k string) {
		mustPutIn(t, db, "b", []byte(k), []byte("value-"+k))
	}
	put("a")
	put("b")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	put("c")
	put("d")
	img := crashCopy(t, db, path)

	// The log's frames (package wal's layout: 32-byte segment header,
	// then frames of a 32-byte header, the payload and padding to 8):
	// the last five are a, b, the checkpoint's anchor, c, d.
	type frame struct {
		seg string
		at  int64 // payload offset
		lsn uint64
	}
	ents, err := os.ReadDir(LogDir(img))
	if err != nil {
		t.Fatal(err)
	}
	var frames []frame
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		num, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		seg := filepath.Join(LogDir(img), name)
		b := mustRead(t, seg)
		for off := int64(32); off+32 <= int64(len(b)); {
			n := int64(binary.LittleEndian.Uint32(b[off+8:]))
			if n == 0 || binary.LittleEndian.Uint32(b[off+24:]) != uint32(num) {
				break
			}
			frames = append(frames, frame{seg, off + 32, binary.LittleEndian.Uint64(b[off+16:])})
			off += 32 + (n+7)&^7
		}
	}
	slices.SortFunc(frames, func(x, y frame) int { return cmp.Compare(x.lsn, y.lsn) })
	if len(frames) < 5 {
		t.Fatalf("%d frames in the log, want a, b, anchor, c, d at least", len(frames))
	}
	f := frames[len(frames)-5+map[string]int{"a": 0, "c": 3, "c header": 3}[damaged]]
	b := mustRead(t, f.seg)
	at := f.at + 1
	if damaged == "c header" {
		at = f.at - 32 + 16
	}
	b[at] ^= 0xff
	if err := os.WriteFile(f.seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return img
}

// A damaged record the last checkpoint already covers (before its
// anchor) no longer fails Open: the file holds it, and the records after
// the checkpoint are replayed; folio check still reports the damage (it
// reads the log strictly: check.go). Damage after the checkpoint is
// still ErrLogCorrupt: a commit the file lacks is lost.
func TestWALDamageBeforeCheckpoint(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		img := damagedLogFile(t, "a")
		for round := range 2 { // the damage stays until a checkpoint drops its segment
			db, err := Open(img, 0o600, walOpts(4096))
			if err != nil {
				t.Fatalf("round %d: Open with a damaged record the checkpoint holds: %v", round, err)
			}
			if err := db.View(func(tx *Tx) error {
				for _, k := range []string{"a", "b", "c", "d"} {
					if got := tx.Bucket([]byte("b")).Get([]byte(k)); string(got) != "value-"+k {
						return fmt.Errorf("%s = %q", k, got)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("e"), []byte("value-e")) })
			}
			closeChecked(t, db)
		}
		ro := walOpts(4096)
		ro.ReadOnly = true
		db, err := Open(img, 0o600, ro)
		if err != nil {
			t.Fatalf("read-only Open: %v", err)
		}
		_ = db.Close()
	})
	t.Run("after", func(t *testing.T) {
		img := damagedLogFile(t, "c")
		_, err := Open(img, 0o600, walOpts(4096))
		if !errors.Is(err, ErrLogCorrupt) {
			t.Fatalf("Open with a damaged record past the checkpoint: %v, want ErrLogCorrupt", err)
		}
		t.Log(err)
	})
}

// truncFailLog is a log whose Truncate fails.
type truncFailLog struct{ tx.Log }

func (truncFailLog) Truncate(uint64) error {
	return &os.PathError{Op: "fsync", Path: "crash.db.wal", Err: syscall.EIO}
}

// A replay whose log truncation fails still opens: the replayed commits
// are in the file, under a durable meta, and the log keeps records the
// file holds, which the next checkpoint drops. Open failed with the
// log's bare error (no file named), as no checkpoint's truncation does
// (commitDirect logs it).
func TestWALReplayTruncateFails(t *testing.T) {
	opts := &Options{PageSize: 1024, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
	st := newCrashStorage(t, tx.InitialImage(1024))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = 1 << 20 // page images: replayLog truncates, not replayOps' checkpoint
	for _, k := range []string{"a", "b"} {
		mustPutIn(t, db, "b", []byte(k), []byte("value-"+k))
	}
	if kinds := logKinds(t, lg); kinds != "[anchor images images]" {
		t.Fatalf("the log holds %q; the test needs page images", kinds)
	}
	img, recs := st.contents(t), append([]logRecord(nil), lg.recs...)

	st2 := newCrashStorage(t, img)
	var logged strings.Builder
	opts.Logger = log.New(&logged, "", 0)
	db2, err := tx.OpenWithLog("crash.db", st2, truncFailLog{newCrashLogWith(st2, recs)}, opts)
	if err != nil {
		t.Fatalf("Open whose log truncation after the replay fails: %v", err)
	}
	defer db2.Close()
	if err := db2.View(func(tx *Tx) error {
		for _, k := range []string{"a", "b"} {
			if got := tx.Bucket([]byte("b")).Get([]byte(k)); string(got) != "value-"+k {
				return fmt.Errorf("%s = %q", k, got)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "input/output error") {
		t.Errorf("the failed truncation was not logged: %q", logged.String())
	}
}
