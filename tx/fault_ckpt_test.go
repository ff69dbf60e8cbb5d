package tx_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// noteLog is a Logger keeping every notice.
type noteLog struct {
	mu    sync.Mutex
	notes []string
}

func (l *noteLog) Printf(format string, v ...any) {
	l.mu.Lock()
	l.notes = append(l.notes, fmt.Sprintf(format, v...))
	l.mu.Unlock()
}

func (l *noteLog) find(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n, p)
		}
		if ok {
			return n
		}
	}
	return ""
}

// TestCheckpointFaultAfterCommit makes the checkpoint that a logged
// commit runs once it is durable (CheckpointBytes 1: after every commit)
// meet a memory fault. The commit happened: Update and Batch return nil
// (they once returned ErrCorrupt, the fault having reached the guard of
// the commit), and the fault is logged as the checkpoint's failure. What
// the checkpoint left in the file is unknown, so later writes fail with
// ErrSyncFailed; reads go on, and a reopen finds the commit in the log.
func TestCheckpointFaultAfterCommit(t *testing.T) {
	for _, name := range []string{"Update", "Batch"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.db")
			notes := &noteLog{}
			opts := &folio.Options{PageSize: 1024, WAL: true, CheckpointBytes: 1, Logger: notes}
			db, err := folio.Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			put := func(k string) func(*folio.Tx) error {
				return func(tx *folio.Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put([]byte(k), []byte("v-"+k))
				}
			}
			if err := db.Update(put("k0")); err != nil {
				t.Fatal(err)
			}
			write := db.Update
			if name == "Batch" {
				write = db.Batch
			}
			restore := tx.FaultInCheckpoints()
			err = write(put("k1"))
			restore()
			if err != nil {
				t.Fatalf("%s whose checkpoint faulted: %v, want nil (the commit is durable in the log)", name, err)
			}
			note := notes.find("checkpoint after txid", "memory fault")
			if note == "" {
				t.Fatalf("no notice of the checkpoint's fault; notices: %q", notes.notes)
			}
			t.Logf("notice: %s", note)
			if err := db.Update(put("k2")); !errors.Is(err, folio.ErrSyncFailed) {
				t.Fatalf("a write after the checkpoint faulted: %v, want ErrSyncFailed", err)
			}
			if err := db.Batch(put("k2")); !errors.Is(err, folio.ErrSyncFailed) {
				t.Fatalf("a batch after the checkpoint faulted: %v, want ErrSyncFailed", err)
			}
			if s := db.Stats().SyncFailed; s == "" {
				t.Error("Stats().SyncFailed is empty after the checkpoint faulted")
			}
			get := func(db *folio.DB, k, want string) {
				t.Helper()
				if err := db.View(func(tx *folio.Tx) error {
					if got := string(tx.Bucket([]byte("b")).Get([]byte(k))); got != want {
						return fmt.Errorf("%s = %q, want %q", k, got, want)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			get(db, "k1", "v-k1")
			get(db, "k2", "")
			if err := db.Close(); !errors.Is(err, folio.ErrSyncFailed) {
				t.Errorf("Close after the checkpoint faulted: %v, want its checkpoint to fail with ErrSyncFailed", err)
			}

			db, err = folio.Open(path, 0o600, &folio.Options{WAL: true, CheckpointBytes: 1})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			get(db, "k0", "v-k0")
			get(db, "k1", "v-k1")
			if err := db.Update(put("k2")); err != nil {
				t.Fatalf("a write after reopening: %v", err)
			}
			get(db, "k2", "v-k2")
			if err := db.View(func(tx *folio.Tx) error {
				for err := range tx.Check() {
					t.Errorf("check: %v", err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
