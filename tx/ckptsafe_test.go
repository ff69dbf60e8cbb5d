package tx_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

const ckptPS = 1024

// ckptOpts never checkpoint by themselves: the test decides when.
func ckptOpts() *folio.Options {
	return &folio.Options{PageSize: ckptPS, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
}

// putModel commits n keys starting at key i, in their own transaction,
// and notes them in model.
func putModel(db *folio.DB, model map[string]string, i, n int) error {
	return db.Update(func(t *folio.Tx) error {
		b, err := t.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for j := i; j < i+n; j++ {
			k, v := fmt.Sprintf("k%04d", j%150), fmt.Sprintf("%d-%s", j, strings.Repeat("v", j%90))
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
			model[k] = v
		}
		return nil
	})
}

// sameAsModel checks that db holds exactly model, and passes Check.
func sameAsModel(t *testing.T, db *folio.DB, model map[string]string) {
	t.Helper()
	if err := db.View(func(t *folio.Tx) error {
		n := 0
		err := t.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
			n++
			if want, ok := model[string(k)]; !ok || want != string(v) {
				return fmt.Errorf("key %s: %q, model %q (present %v)", k, v, want, ok)
			}
			return nil
		})
		if err == nil && n != len(model) {
			err = fmt.Errorf("%d keys, model %d", n, len(model))
		}
		for cerr := range t.Check() {
			err = errors.Join(err, cerr)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointRefusesTruncatedFile cuts the file of a live WAL-mode
// database, with commits in the log only, and checkpoints. The
// checkpoint must fail with ErrCorrupt naming the path and both sizes,
// write no meta, and keep the log: later writes fail (ErrSyncFailed),
// and a reopen recovers every acknowledged commit from the log (once
// the file is put back, when the cut took pages of the checkpointed
// tree; until then the reopen fails). Before, the checkpoint wrote a
// meta naming the lost pages and truncated the log.
func TestCheckpointRefusesTruncatedFile(t *testing.T) {
	for _, c := range []struct {
		name string
		// cut is the new length, given the last checkpoint's high water
		// mark and the current one, in bytes.
		cut     func(ckptHigh, high int64) int64
		restore bool
	}{
		{"free-tail", func(_, high int64) int64 { return high }, false},
		{"logged-pages", func(ckptHigh, _ int64) int64 { return ckptHigh }, false},
		{"checkpointed-pages", func(_, _ int64) int64 { return 2 * ckptPS }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cut.db")
			db, err := folio.Open(path, 0o600, ckptOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			model := map[string]string{}
			for i := 0; i < 10; i++ {
				if err := putModel(db, model, i*10, 10); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			ckpt, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			for i := 10; i < 30; i++ {
				if err := putModel(db, model, i*10, 10); err != nil {
					t.Fatal(err)
				}
			}
			in, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			if in.LogPending == 0 || in.HighPage <= ckpt.HighPage || in.FileSize <= int64(in.HighPage)*ckptPS {
				t.Fatalf("setup: %d commits in the log, high water mark %d pages (%d at the checkpoint), file %d bytes",
					in.LogPending, in.HighPage, ckpt.HighPage, in.FileSize)
			}
			saved, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			size := c.cut(int64(ckpt.HighPage)*ckptPS, int64(in.HighPage)*ckptPS)
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}

			err = db.Checkpoint()
			if !errors.Is(err, folio.ErrCorrupt) {
				t.Fatalf("checkpoint over a file cut from %d to %d bytes: %v, want ErrCorrupt", in.FileSize, size, err)
			}
			for _, want := range []string{path, fmt.Sprint(in.FileSize), fmt.Sprint(size)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("checkpoint error %q does not say %q", err, want)
				}
			}
			t.Logf("refused: %v", err)
			meta, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for slot := 0; slot < 2; slot++ {
				m, err := page.DecodeMeta(meta[slot*ckptPS:], page.ID(slot))
				if err == nil && m.TxID > ckpt.TxID {
					t.Errorf("meta page %d holds txid %d: the refused checkpoint wrote it (last checkpoint: txid %d)", slot, m.TxID, ckpt.TxID)
				}
			}
			if got, err := db.Info(); err != nil || got.CheckpointTxID != ckpt.TxID || got.LogPending != in.LogPending {
				t.Errorf("after the refused checkpoint: %+v, %v; want checkpoint txid %d, %d commits in the log", got, err, ckpt.TxID, in.LogPending)
			}
			// The refusal names its cause, the file's damage (the first
			// cause, not Close's or a later write's), and the path once.
			if err := putModel(db, map[string]string{}, 0, 1); !errors.Is(err, folio.ErrSyncFailed) || !errors.Is(err, folio.ErrCorrupt) {
				t.Errorf("a write after the refused checkpoint: %v, want ErrSyncFailed and ErrCorrupt", err)
			} else if n := strings.Count(err.Error(), path); n != 1 {
				t.Errorf("a write after the refused checkpoint: %v: names the path %d times", err, n)
			}
			if err := db.Close(); !errors.Is(err, folio.ErrSyncFailed) {
				t.Errorf("Close after the refused checkpoint: %v, want its checkpoint refused (ErrSyncFailed)", err)
			}

			if c.restore {
				if db, err := folio.Open(path, 0o600, ckptOpts()); err == nil {
					sameAsModel(t, db, model) // only a complete recovery may open
					db.Close()
					t.Fatal("reopen with the checkpointed pages cut: no error")
				} else {
					t.Logf("reopen before the file is put back: %v", err)
				}
				if err := os.WriteFile(path, saved, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			db, err = folio.Open(path, 0o600, ckptOpts())
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db.Close()
			sameAsModel(t, db, model)
			if err := putModel(db, model, 1000, 5); err != nil {
				t.Fatalf("a write after reopening: %v", err)
			}
		})
	}
}

// TestCheckpointFaultGuarded makes Checkpoint's and Close's checkpoints
// meet a memory fault, as one over a file truncated underneath can
// (FaultInCheckpoints). Each returns the fault as ErrCorrupt instead of
// crashing the process; the DB refuses writes, and a reopen recovers
// every commit from the log.
func TestCheckpointFaultGuarded(t *testing.T) {
	for _, name := range []string{"Checkpoint", "Close"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fault.db")
			db, err := folio.Open(path, 0o600, ckptOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			model := map[string]string{}
			for i := 0; i < 5; i++ {
				if err := putModel(db, model, i*10, 10); err != nil {
					t.Fatal(err)
				}
			}
			restore := tx.FaultInCheckpoints()
			if name == "Checkpoint" {
				err = db.Checkpoint()
			} else {
				err = db.Close()
			}
			restore()
			if !errors.Is(err, folio.ErrCorrupt) || !strings.Contains(err.Error(), "memory fault") {
				t.Fatalf("%s whose checkpoint faulted: %v, want the fault as ErrCorrupt", name, err)
			}
			if name == "Checkpoint" {
				if err := putModel(db, map[string]string{}, 0, 1); !errors.Is(err, folio.ErrSyncFailed) || !errors.Is(err, folio.ErrCorrupt) {
					t.Errorf("a write after the checkpoint faulted: %v, want ErrSyncFailed and ErrCorrupt", err)
				}
				if err := db.Close(); !errors.Is(err, folio.ErrSyncFailed) {
					t.Errorf("Close after the checkpoint faulted: %v, want ErrSyncFailed", err)
				}
			}
			db, err = folio.Open(path, 0o600, ckptOpts())
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db.Close()
			sameAsModel(t, db, model)
		})
	}
}

// TestReplayCheckpointFaultGuarded makes the checkpoint that ends the
// replay of logical records at Open meet a memory fault. Open fails
// with it as ErrCorrupt instead of crashing the process, and the next
// open replays the log again and finds every commit.
func TestReplayCheckpointFaultGuarded(t *testing.T) {
	dir := t.TempDir()
	path, crashed := filepath.Join(dir, "live.db"), filepath.Join(dir, "crashed.db")
	db, err := folio.Open(path, 0o600, ckptOpts())
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = -1 // log operations, which Open replays and then checkpoints
	model := map[string]string{}
	for i := 0; i < 5; i++ {
		if err := putModel(db, model, i*10, 10); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, path, crashed) // as a crash leaves them: the commits in the log only
	copyDir(t, folio.LogDir(path), folio.LogDir(crashed))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	restore := tx.FaultInCheckpoints()
	db, err = folio.Open(crashed, 0o600, ckptOpts())
	restore()
	if err == nil {
		db.Close()
		t.Fatal("open whose checkpoint after replay faulted: no error")
	}
	if !errors.Is(err, folio.ErrCorrupt) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("open whose checkpoint after replay faulted: %v, want the fault as ErrCorrupt", err)
	}
	db, err = folio.Open(crashed, 0o600, ckptOpts())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if in, err := db.Info(); err != nil || in.Replayed != 5 {
		t.Errorf("reopen replayed %d commits (%v), want 5", in.Replayed, err)
	}
	sameAsModel(t, db, model)
}

// TestRestoreMetaErrorSaysEachOnce fails a commit's meta write, then the
// write or the sync that restores the slot. The error names the path
// and ErrSyncFailed once each (the restoring sync's error said both a
// second time), and errors.Is finds both failures and ErrSyncFailed.
func TestRestoreMetaErrorSaysEachOnce(t *testing.T) {
	errMetaWrite := errors.New("test: EIO writing the meta")
	errRestoreWrite := errors.New("test: EIO writing the restored meta")
	errRestoreSync := errors.New("test: EIO syncing the restored meta")
	for _, c := range []struct {
		name          string
		metaWriteErrs []error
		syncErr       error
		cause         error
	}{
		{"restore-sync", []error{errMetaWrite}, errRestoreSync, errRestoreSync},
		{"restore-write", []error{errMetaWrite, errRestoreWrite}, nil, errRestoreWrite},
	} {
		t.Run(c.name, func(t *testing.T) {
			const path = "/mem/restore.db"
			st := newMemStorage(tx.InitialImage(ckptPS))
			db, err := tx.Open(path, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := putModel(db, map[string]string{}, 0, 5); err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			st.metaWriteErrs, st.syncErr = c.metaWriteErrs, c.syncErr
			st.mu.Unlock()
			err = putModel(db, map[string]string{}, 5, 5)
			if err == nil {
				t.Fatal("commit whose meta write failed: no error")
			}
			t.Logf("commit: %v", err)
			for _, want := range []error{errMetaWrite, c.cause, tx.ErrSyncFailed} {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			for _, once := range []string{path, tx.ErrSyncFailed.Error()} {
				if n := strings.Count(err.Error(), once); n != 1 {
					t.Errorf("the error says %q %d times, want once: %v", once, n, err)
				}
			}
			if err := putModel(db, map[string]string{}, 10, 1); !errors.Is(err, tx.ErrSyncFailed) {
				t.Errorf("a write after the failed restore: %v, want ErrSyncFailed", err)
			}
		})
	}
}

// memStorage is a tx.Storage in memory whose meta-page writes and syncs
// fail on demand. Views share one backing array with the writes, as
// shared mappings of a file do.
type memStorage struct {
	mu            sync.Mutex
	buf           []byte
	size          int64
	metaWriteErrs []error // the next writes to a meta page fail with these, in turn
	syncErr       error   // every sync fails with it, once set
}

func newMemStorage(img []byte) *memStorage {
	st := &memStorage{buf: make([]byte, 1<<24), size: int64(len(img))}
	copy(st.buf, img)
	return st
}

func (s *memStorage) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

func (s *memStorage) Map(size int64) (tx.View, error) {
	if size > int64(len(s.buf)) {
		return nil, fmt.Errorf("memStorage: cannot map %d bytes", size)
	}
	return memView(s.buf[:size]), nil
}

func (s *memStorage) WriteAt(bufs [][]byte, off int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off < 2*ckptPS && len(s.metaWriteErrs) > 0 {
		err := s.metaWriteErrs[0]
		s.metaWriteErrs = s.metaWriteErrs[1:]
		return err
	}
	for _, b := range bufs {
		if off+int64(len(b)) > int64(len(s.buf)) {
			return fmt.Errorf("memStorage: write past %d bytes", len(s.buf))
		}
		off += int64(copy(s.buf[off:], b))
		s.size = max(s.size, off)
	}
	return nil
}

func (s *memStorage) SyncRange(off, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncErr
}

func (s *memStorage) Grow(size int64, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > int64(len(s.buf)) {
		return fmt.Errorf("memStorage: cannot grow to %d bytes", size)
	}
	s.size = max(s.size, size)
	return nil
}

func (s *memStorage) Truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size < s.size {
		clear(s.buf[size:s.size])
	}
	s.size = size
	return nil
}

func (s *memStorage) Close() error { return nil }

type memView []byte

func (v memView) Bytes() []byte { return v }
func (v memView) Close() error  { return nil }
