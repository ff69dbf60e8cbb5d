package folio

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// After an open that replays the log, the storage's current mapping (the
// one SyncRange msyncs through) still covers the whole file: a mapping
// made only to check the replayed meta, as long as its pages, left later
// syncs past it to fall back to fdatasync of the whole file.
func TestWALReplayKeepsFullMapping(t *testing.T) {
	dir := t.TempDir()
	path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
	db, err := Open(path, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, crash)
	for i := range 20 {
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%03d", i), make([]byte, 300))
		})
	}
	copyDir(t, LogDir(path), LogDir(crash))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.OpenFile(crash, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := flock(f, true, 0); err != nil {
		t.Fatal(err)
	}
	st := openFileStorage(f, false, false, 0)
	lg, err := wal.Open(LogDir(crash), wal.Options{SegmentSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	db2, err := tx.OpenWithLog(crash, st, lg, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if in, err := db2.Info(); err != nil || in.Replayed == 0 {
		t.Fatalf("Info: %+v, %v; want a replay", in, err)
	}
	// Commits that grow the file within the database's view remap nothing.
	for i := range 50 {
		err := db2.Update(func(tx *Tx) error {
			return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "g%03d", i), make([]byte, 900))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	m := st.acquireCur()
	covered := int64(len(m.data))
	if err := m.release(); err != nil {
		t.Fatal(err)
	}
	if size := st.Size(); covered < size {
		t.Errorf("after replay the current mapping covers %d bytes of a %d-byte file", covered, size)
	}
}
