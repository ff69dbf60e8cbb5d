package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/foliodb/folio/page"
)

// withMetaVersion returns img with both meta pages resealed as version v,
// as a folio of that version wrote them.
func withMetaVersion(t testing.TB, img []byte, ps int, v uint32) []byte {
	t.Helper()
	if v == 1 {
		return toVersion1(t, img, ps)
	}
	img = bytes.Clone(img)
	for slot := range 2 {
		p := img[slot*ps : (slot+1)*ps]
		binary.LittleEndian.PutUint32(p[page.HeaderSize+4:], v)
		page.Seal(p)
	}
	return img
}

// In WAL mode a commit writes no meta page, and a folio of an older
// format reads the log's salted segments as garbage and recycles them.
// Before the session's first record, both meta pages become the current
// version (upgradeBeforeLog), so that such a folio, after a crash,
// refuses the file rather than open the last checkpoint and silently
// drop the commits only the log holds. Before, the file kept its older
// meta pages until the first checkpoint.
func TestMetaUpgradeBeforeLog(t *testing.T) {
	for from := uint32(1); from < page.Version; from++ {
		t.Run(fmt.Sprint("version ", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "up.db")
			db, err := Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			// One commit: a version 1 file lists no free list delta.
			mustCreatePut(t, db, "b", "k", "v")
			in, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			ps := in.PageSize
			img := imageAfterClose(t, db)
			if err := os.WriteFile(path, withMetaVersion(t, img, ps, from), 0o600); err != nil {
				t.Fatal(err)
			}

			db, err = Open(path, 0o600, &Options{WAL: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for i := range 5 {
				mustUpdate(t, db, func(tx *Tx) error {
					return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%d", i), []byte("logged"))
				})
			}
			if in, err = db.Info(); err != nil {
				t.Fatal(err)
			} else if in.CheckpointTxID == in.TxID {
				t.Fatal("the commits were not logged")
			}
			if in.Version != page.Version {
				t.Errorf("Info.Version %d after logged commits, want %d", in.Version, page.Version)
			}
			// The file as a crash now leaves it: its pages are in the
			// page cache, its newest commits only in the log.
			crashed, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for slot := range 2 {
				if v := page.MetaVersion(crashed[slot*ps:]); v != page.Version {
					t.Errorf("meta page %d has version %d, want %d", slot, v, page.Version)
				}
			}
			if m, err := pickMetaUpTo(crashed, ps, page.Version-1); err == nil {
				t.Errorf("a folio reading versions 1 to %d opens txid %d of the file, whose txids %d to %d only the log holds",
					page.Version-1, m.TxID, in.CheckpointTxID+1, in.TxID)
			} else if !errors.Is(err, page.ErrVersion) {
				t.Errorf("a folio reading versions 1 to %d: %v, want ErrVersion", page.Version-1, err)
			}
		})
	}
}
