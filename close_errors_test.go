package folio

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/foliodb/folio/tx"
)

// closeFailStorage is a crash storage whose Close fails with err.
type closeFailStorage struct {
	*crashStorage
	err error
}

func (s closeFailStorage) Close() error {
	_ = s.crashStorage.Close()
	return s.err
}

// TestCloseKeepsCheckpointError: a Close whose checkpoint fails (WAL
// mode: the commits are in the log, not durable in the file) and whose
// file then fails to close returns both errors. It returned the close
// error alone, and a caller testing errors.Is(err, errInjected) (the
// failed checkpoint, whose log must be kept) could not tell.
func TestCloseKeepsCheckpointError(t *testing.T) {
	cs := newCrashStorage(t, tx.InitialImage(1024))
	closeErr := &os.PathError{Op: "close", Path: "close.db", Err: syscall.EBADF}
	st := closeFailStorage{crashStorage: cs, err: closeErr}
	db, err := tx.OpenWithLog("close.db", st, newCrashLog(cs), walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustCreatePut(t, db, "b", "k", "v")
	cs.mu.Lock()
	cs.failAt = cs.calls // the checkpoint's first call to the file
	cs.mu.Unlock()
	err = db.Close()
	if !errors.Is(err, errInjected) || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Close with a failing checkpoint and a failing file close: %v; want both errors", err)
	}
}
