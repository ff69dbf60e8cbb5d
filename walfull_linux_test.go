//go:build linux

package folio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// WAL mode on a full disk, beyond the commit that needs the room
// (diskfull_test.go, diskfull_linux_test.go): the anchor a checkpoint or
// an open appends to the log, and the checkpoint's own free list.

// fullLog is a write-ahead log whose Append fails with fail while it is
// set. errLogFull is how wal.Log fails when a record needs a new segment
// and the disk has no room for one: cleanly, nothing on disk. It notes
// each record appended, for the order of anchors and commits.
type fullLog struct {
	tx.Log
	mu   sync.Mutex
	fail error
	recs []fullRec
}

type fullRec struct {
	kind string // "anchor", "operations", "pages"
	txid uint64
}

var errLogFull = fmt.Errorf("%w: no new segment: %w", wal.ErrNotAppended, os.NewSyscallError("fallocate", syscall.ENOSPC))

func (l *fullLog) Append(payload []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return 0, l.fail
	}
	lsn, err := l.Log.Append(payload)
	if err == nil {
		kind, txid, _ := tx.CheckLogRecord(payload)
		l.recs = append(l.recs, fullRec{kind, txid})
	}
	return lsn, err
}

func (l *fullLog) setFail(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}

// lastRecs is the last n records appended.
func (l *fullLog) lastRecs(n int) []fullRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]fullRec(nil), l.recs[max(0, len(l.recs)-n):]...)
}

// fullLogDB is a WAL-mode database over a fullLog, and its model.
type fullLogDB struct {
	t    *testing.T
	path string
	db   *DB
	log  *fullLog
	m    *mbucket
	n    int
}

// openFullLogDB opens path in WAL mode with its log failing appends with
// fail from the start (nil: none).
func openFullLogDB(t *testing.T, path string, fail error) (*fullLogDB, error) {
	t.Helper()
	opts := &Options{WAL: true, PageSize: 1024}
	f, _, err := openFileUntil(path, 0o600, opts, openDeadline(opts))
	if err != nil {
		t.Fatal(err)
	}
	st := openFileStorage(f, false, false, 0)
	lg, err := wal.Open(LogDir(path), wal.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	fl := &fullLog{Log: lg, fail: fail}
	db, err := tx.OpenWithLog(path, st, fl, opts)
	if err != nil {
		_ = lg.Close()
		_ = st.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = db.Close() })
	return &fullLogDB{t: t, path: path, db: db, log: fl, m: newMBucket()}, nil
}

// put commits one put, logged (operations), into the DB and, once it
// committed, the model.
func (d *fullLogDB) put() error {
	k, v := fmt.Sprintf("k%04d", d.n), fmt.Sprintf("v%d", d.n)
	d.n++
	err := d.db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(k), []byte(v))
	})
	if err == nil {
		lookupModel(d.m, []string{"b"}, true).kv[k] = v
	}
	return err
}

func (d *fullLogDB) mustPut(where string) {
	d.t.Helper()
	if err := d.put(); err != nil {
		d.t.Fatalf("%s: %v", where, err)
	}
}

// reopenCrashed copies the file at path and its log's live segments, as
// a kill leaves them, opens the copy (replaying the log) and checks that
// it holds m.
func reopenCrashed(t *testing.T, where, path string, m *mbucket) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, path, dst)
	copyLiveSegments(t, LogDir(path), LogDir(dst))
	db, err := Open(dst, 0o600, &Options{WAL: true})
	if err != nil {
		t.Fatalf("%s: open a copy as a crash leaves it: %v", where, err)
	}
	defer db.Close()
	expectState(t, where+": the crashed copy", db, m)
}

// checkLogFullErr checks that err is the failure of a commit whose record
// found no room in the log, alone: ErrNotAppended and ENOSPC, and no
// ErrSyncFailed (writes go on), saying "folio:" once.
func checkLogFullErr(t *testing.T, where string, err error) {
	t.Helper()
	if !errors.Is(err, wal.ErrNotAppended) || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrSyncFailed) {
		t.Fatalf("%s: %v; want wal.ErrNotAppended and ENOSPC, not ErrSyncFailed", where, err)
	}
	if n := strings.Count(err.Error(), "folio:"); n != 1 {
		t.Errorf("%s: %q says \"folio:\" %d times", where, err, n)
	}
}

// TestWALFullAnchor: after a checkpoint, and at an open that replayed the
// log, the log gets an anchor naming the file's meta, which recovery
// needs before the first record past that meta (tx/walanchor.go). When
// the log has no room for it (wal.ErrNotAppended), the next logged
// commit appends it first, and fails alone while there is still no room.
// Before, that failure refused every write until a reopen, with
// ErrSyncFailed ("an earlier sync failed"), although nothing was written
// and no sync had failed, and an open whose anchor found no room failed
// with that message. The records the log ends with show the anchor
// before the commit; after a checkpoint, a commit logged without it
// would also make the next open refuse the log (ErrLogMismatch:
// reopenCrashed). After the open's replay the log here holds no older
// anchor to mislead a reopen, so only the order of records tells.
func TestWALFullAnchor(t *testing.T) {
	t.Run("checkpoint", func(t *testing.T) {
		d, err := openFullLogDB(t, filepath.Join(t.TempDir(), "a.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			d.mustPut("commit")
		}
		d.log.setFail(errLogFull)
		if err := d.db.Checkpoint(); err != nil {
			t.Fatalf("checkpoint whose anchor finds no room in the log: %v", err)
		}
		in, err := d.db.Info()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			checkLogFullErr(t, fmt.Sprintf("commit %d with no room for the anchor", i), d.put())
		}
		expectState(t, "reads with the anchor waiting", d.db, d.m)
		d.log.setFail(nil)
		d.mustPut("commit with room again")
		want := []fullRec{{"anchor", uint64(in.CheckpointTxID)}, {"operations", uint64(in.CheckpointTxID) + 1}}
		if got := d.log.lastRecs(2); !slices.Equal(got, want) {
			t.Fatalf("the log ends with %v, want %v: the checkpoint's anchor, then the commit", got, want)
		}
		d.mustPut("the next commit")
		reopenCrashed(t, "after the anchor", d.path, d.m)
	})

	t.Run("open", func(t *testing.T) {
		dir := t.TempDir()
		live, err := openFullLogDB(t, filepath.Join(dir, "live.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Page images: the open replays them and then anchors the log
		// itself (a log of operations ends in a checkpoint, as above).
		live.db.WALImageLimit = 1 << 20
		for range 3 {
			live.mustPut("commit")
		}
		// A crash: the open replays these three, writes their meta, and
		// anchors the log to it.
		path := filepath.Join(dir, "b.db")
		copyFile(t, live.path, path)
		copyLiveSegments(t, LogDir(live.path), LogDir(path))
		d, err := openFullLogDB(t, path, errLogFull)
		if err != nil {
			t.Fatalf("open whose anchor finds no room in the log: %v", err)
		}
		d.m, d.n = live.m, live.n
		in, err := d.db.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.Replayed != 3 {
			t.Fatalf("the open replayed %d commits, want 3", in.Replayed)
		}
		checkLogFullErr(t, "commit with no room for the anchor", d.put())
		expectState(t, "reads with the anchor waiting", d.db, d.m)
		d.log.setFail(nil)
		d.mustPut("commit with room again")
		want := []fullRec{{"anchor", uint64(in.TxID)}, {"operations", uint64(in.TxID) + 1}}
		if got := d.log.lastRecs(2); !slices.Equal(got, want) {
			t.Fatalf("the log ends with %v, want %v: the open's anchor, then the commit", got, want)
		}
		reopenCrashed(t, "after the anchor", d.path, d.m)
	})

	// Any other failure may have left part of a frame in the log: writes
	// stop until a reopen, as before. At Open, the error says what failed;
	// before, it said "an earlier sync failed".
	t.Run("broken", func(t *testing.T) {
		broken := errors.New("folio/wal: append failed, log must be reopened: write: input/output error")
		dir := t.TempDir()
		_, err := openFullLogDB(t, filepath.Join(dir, "c.db"), broken)
		if !errors.Is(err, broken) || errors.Is(err, ErrSyncFailed) || strings.Contains(err.Error(), "sync") ||
			!strings.Contains(err.Error(), "append an anchor to the log") || strings.Count(err.Error(), "folio:") != 1 {
			t.Fatalf("open whose anchor failed to append: %v; want the append's error, once \"folio:\", no sync", err)
		}
		d, err := openFullLogDB(t, filepath.Join(dir, "d.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		d.mustPut("commit")
		d.log.setFail(broken)
		if err := d.db.Checkpoint(); err != nil {
			t.Fatalf("checkpoint whose anchor failed to append: %v (it is durable)", err)
		}
		d.log.setFail(nil)
		if err := d.put(); !errors.Is(err, ErrSyncFailed) || !errors.Is(err, broken) ||
			!strings.Contains(err.Error(), "append an anchor to the log") {
			t.Fatalf("commit after an anchor failed to append: %v; want ErrSyncFailed, naming the anchor", err)
		}
	})
}

// TestWALFullCheckpointHeld: pages a checkpoint's meta reaches stay held
// when logged commits free them, until the next checkpoint, and are not
// free meanwhile. Here they are all that is left when the file cannot
// grow: the free list of the next checkpoint needs a run of 3 pages, and
// the 3 free ones are apart. Before, that checkpoint failed to grow the
// file ("grow c.db to 5782528 bytes: fallocate: no space left on
// device"), every later one too, so the held pages (1,197) were never
// released, and every commit failed until a reopen. Now the checkpoint
// writes no free list: the held pages are free after it, and Open
// rebuilds the list from the tree (reopenCrashed); the next checkpoint,
// with room, writes one again.
func TestWALFullCheckpointHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	opts := &Options{WAL: true, PageSize: 1024}
	f, _, err := openFileUntil(path, 0o600, opts, openDeadline(opts))
	if err != nil {
		t.Fatal(err)
	}
	st := &fullStorage{Storage: openFileStorage(f, false, false, 0), room: 1 << 30}
	lg, err := wal.Open(LogDir(path), wal.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	db, err := tx.OpenWithLog(path, st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = db.Close()
		}
	}()
	db.AllocSize = 64 << 10
	m := newMBucket()
	mb := lookupModel(m, []string{"b"}, true)
	const keys = 30000
	gen := 0
	// put sets keys (mod keys) to 100-byte values of generation gen.
	put := func(ks ...int) error {
		gen++
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for _, k := range ks {
				if err := b.Put([]byte(fmt.Sprintf("k%05d", k%keys)), []byte(fmt.Sprintf("%-100d", gen*keys+k))); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, k := range ks {
				mb.kv[fmt.Sprintf("k%05d", k%keys)] = fmt.Sprintf("%-100d", gen*keys+k)
			}
		}
		return err
	}
	all := make([]int, keys)
	for i := range all {
		all[i] = i
	}
	if err := put(all...); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// Logged commits rewrite leaves every third or so (a key in 24), so
	// that the leaves they hold are apart: the free list's extents. The
	// file then fills up.
	st.setRoom(st.Size() + 1200<<10)
	next := 0
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatal("the file never filled up")
		}
		ks := make([]int, 64)
		for i := range ks {
			ks[i], next = next, next+24
		}
		if err := put(ks...); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("commit on a full disk: %v, want ENOSPC", err)
			}
			break
		}
	}
	// Take the free pages left, one commit at a time.
	for fails := 0; fails < 3; next += 24 {
		if put(next) != nil {
			fails++
		}
	}
	before, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatalf("checkpoint with %d pages held and %d free, on a full disk: %v", before.PendingPages, before.FreePages, err)
	}
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Freelist != 0 || in.CheckpointTxID != in.TxID {
		t.Fatalf("after the checkpoint: free list at page %d, checkpoint txid %d of %d; want no free list, checkpointed",
			in.Freelist, in.CheckpointTxID, in.TxID)
	}
	// The held pages are free now: commits go on in the same file.
	for i := range 20 {
		if err := put(next + i*24); err != nil {
			t.Fatalf("commit %d after the checkpoint released %d held pages: %v", i, before.PendingPages, err)
		}
	}
	expectState(t, "after the checkpoint", db, m)
	reopenCrashed(t, "no free list", path, m)
	closed = true
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err = Open(path, 0o600, &Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if in, err := db.Info(); err != nil || in.Freelist == 0 {
		t.Fatalf("after close: free list at page %d, %v; want the close's checkpoint to have written one", in.Freelist, err)
	}
	expectState(t, "reopened", db, m)
}
