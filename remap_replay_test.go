package folio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// TestRemapReplayKeepsFullMapping opens a WAL-mode file whose log
// holds commits past its meta, logged as page images and as operations,
// then commits more that grow the file within the database's view: the
// storage's current mapping, which SyncRange msyncs through, must still
// cover the whole file. (It replaces TestWALReplayKeepsFullMapping, the
// "operations" case, whose replay maps nothing of its own, so it passed
// while a replay of images checked its meta through a mapping as long as
// the replayed pages, which stayed the current one: every later sync
// past it fell back to fdatasync of the whole file.)
func TestRemapReplayKeepsFullMapping(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit int // DB.WALImageLimit of the crashed session
	}{{"images", 1 << 20}, {"operations", -1}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
			db, err := Open(path, 0o600, walOpts(1024))
			if err != nil {
				t.Fatal(err)
			}
			db.WALImageLimit = c.limit
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
			// The crash: the file as of the checkpoint, the log as of now.
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
			if in, err := db2.Info(); err != nil || in.Replayed != 20 {
				t.Fatalf("Info: %+v, %v; want 20 commits replayed", in, err)
			}
			for i := range 50 {
				err := db2.Update(func(tx *Tx) error {
					return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "g%03d", i), make([]byte, 900))
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := db2.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			m := st.acquireCur()
			covered := int64(len(m.data))
			if err := m.release(); err != nil {
				t.Fatal(err)
			}
			if size := st.Size(); covered < size {
				t.Errorf("after the replay the current mapping covers %d bytes of a %d-byte file: syncs past it fall back to fdatasync", covered, size)
			}
		})
	}
}

// metaFailStorage fails the next single-page write into a meta slot once
// failMeta is set: a commit's meta write.
type metaFailStorage struct {
	tx.Storage
	ps       int64
	failMeta atomic.Bool
}

func (s *metaFailStorage) WriteAt(bufs [][]byte, off int64) error {
	if off < 2*s.ps && len(bufs) == 1 && s.failMeta.CompareAndSwap(true, false) {
		return errInjected
	}
	return s.Storage.WriteAt(bufs, off)
}

// TestRemapRestoredMetaKeepsFullMapping fails a commit's meta
// write; the commit puts back the meta slot it may have half written
// (restoreMeta), and later commits go on. The storage's current mapping,
// which SyncRange msyncs through, must still cover the file: restoreMeta
// read the other slot's meta through a two-page mapping of its own,
// which became the current one, and every later sync fell back to
// fdatasync of the whole file until the file outgrew the database's view.
func TestRemapRestoredMetaKeepsFullMapping(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			const ps = 4096
			fs := openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)
			st := &metaFailStorage{Storage: fs, ps: ps}
			var lg tx.Log
			if walMode {
				l, err := wal.Open(filepath.Join(t.TempDir(), "log"), wal.Options{SegmentSize: 1 << 20})
				if err != nil {
					t.Fatal(err)
				}
				lg = l
			}
			db, err := tx.OpenWithLog("meta.db", st, lg, &Options{WAL: walMode})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			put := func(i int) error {
				return db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put(fmt.Appendf(nil, "k%04d", i), make([]byte, 2000))
				})
			}
			if err := put(0); err != nil {
				t.Fatal(err)
			}
			st.failMeta.Store(true)
			// In WAL mode the meta is written by a checkpoint.
			var ferr error
			if walMode {
				ferr = db.Checkpoint()
			} else {
				ferr = put(1)
			}
			if !errors.Is(ferr, errInjected) {
				t.Fatalf("commit with its meta write failing: %v", ferr)
			}
			for i := 2; i < 100; i++ {
				if err := put(i); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			m := fs.acquireCur()
			covered := int64(len(m.data))
			if err := m.release(); err != nil {
				t.Fatal(err)
			}
			if size := fs.Size(); covered < size {
				t.Errorf("after a restored meta the current mapping covers %d bytes of a %d-byte file: syncs past it fall back to fdatasync", covered, size)
			}
		})
	}
}
