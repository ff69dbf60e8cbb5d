package folio

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// mapCountStorage counts the mappings of more than the two meta pages.
type mapCountStorage struct {
	tx.Storage
	ps   int64
	maps atomic.Int64
}

func (s *mapCountStorage) Map(size int64) (tx.View, error) {
	if size > 2*s.ps {
		s.maps.Add(1)
	}
	return s.Storage.Map(size)
}

// TestOpenReplayMapsOnce: an Open that replays page images from the log
// checks the replayed meta through its own mapping of the file: it maps
// the file once, or twice if the replay grew it past that mapping. The
// check mapped the file a second time (a third after a growth, when Open
// remapped), which with MmapFlags' MAP_POPULATE read it all in again.
func TestOpenReplayMapsOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		commits int // of 200 values of 4,000 bytes: 800 KB each
		maps    int64
	}{
		{"in view", 2, 1},
		{"grown past it", 25, 2}, // 20 MB: past the first view's 16 MiB
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, img := filepath.Join(dir, "src.db"), filepath.Join(dir, "img.db")
			db, err := Open(src, 0o600, &Options{PageSize: 4096, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(src)
			if err != nil {
				t.Fatal(err)
			}
			v := make([]byte, 4000)
			for i := range tc.commits {
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for j := range 200 {
						if err := b.Put(fmt.Appendf(nil, "k%04d-%03d", i, j), v); err != nil {
							return err
						}
					}
					return nil
				})
			}
			// The state a crash left: the commits in the log only, the
			// file's growth (never synced by a logged commit) lost.
			copyFile(t, src, img)
			copyDir(t, LogDir(src), LogDir(img))
			if err := os.Truncate(img, fi.Size()); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			st := &mapCountStorage{Storage: openFileStorage(f, false, false, 0), ps: 4096}
			lg, err := wal.Open(LogDir(img), wal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rdb, err := tx.OpenWithLog(img, st, lg, &Options{WAL: true})
			if err != nil {
				t.Fatal(err)
			}
			maps := st.maps.Load()
			in, err := rdb.Info()
			if err != nil {
				t.Fatal(err)
			}
			if in.Replayed != tc.commits {
				t.Errorf("replayed %d commits, want %d", in.Replayed, tc.commits)
			}
			if maps != tc.maps {
				t.Errorf("Open mapped the file %d times, want %d", maps, tc.maps)
			}
			mustCheck(t, rdb)
			if err := rdb.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
