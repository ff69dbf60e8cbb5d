package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestOpenMetaPageSizeConflict opens files whose two meta pages both
// decode but disagree on the page size, and one whose meta page 0 is
// unusable and whose meta page 1 sits at an offset other than the page
// size it says. folio never writes such a file (both metas of a new file
// get one page size, every commit the size open found), so no reading is
// safe: every open, read-write, read-only or in WAL mode, must fail with
// ErrCorrupt naming the path and both sizes, and leave the file as it was.
// Before, the meta with the higher txid won, its page size with it.
func TestOpenMetaPageSizeConflict(t *testing.T) {
	type metaAt struct {
		off  int // where the meta page is written
		slot page.ID
		ps   uint32
		txid page.TxID
	}
	cases := []struct {
		name  string
		metas []metaAt
		sizes [2]uint32 // the two page sizes the error must name
	}{
		{"meta 1 smaller, newer", []metaAt{{0, 0, 4096, 2}, {4096, 1, 1024, 3}}, [2]uint32{4096, 1024}},
		{"meta 1 smaller, older", []metaAt{{0, 0, 4096, 4}, {4096, 1, 1024, 3}}, [2]uint32{4096, 1024}},
		{"meta 1 larger, newer", []metaAt{{0, 0, 1024, 2}, {1024, 1, 4096, 3}}, [2]uint32{1024, 4096}},
		{"meta 1 larger, older", []metaAt{{0, 0, 1024, 4}, {1024, 1, 4096, 3}}, [2]uint32{1024, 4096}},
		// Meta page 0 zeroed: meta page 1 is looked for at each page size,
		// and the first found says another size than its offset.
		{"meta 0 zeroed, meta 1 off its size", []metaAt{{2048, 1, 4096, 3}}, [2]uint32{2048, 4096}},
		{"meta 0 zeroed, meta 1 past its size", []metaAt{{4096, 1, 1024, 3}}, [2]uint32{4096, 1024}},
	}
	modes := []struct {
		name string
		opts Options
		log  bool // a write-ahead log directory beside the file
	}{
		{"read-write", Options{}, false},
		{"read-only", Options{ReadOnly: true}, false},
		{"wal", Options{WAL: true}, false},
		{"wal read-only", Options{ReadOnly: true}, true},
	}
	for _, tc := range cases {
		img := make([]byte, 4*4096)
		for _, m := range tc.metas {
			page.EncodeMeta(img[m.off:m.off+int(m.ps)], m.slot, &page.Meta{PageSize: m.ps, High: 2, TxID: m.txid})
		}
		for _, mode := range modes {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				path := tempPath(t)
				if err := os.WriteFile(path, img, 0o600); err != nil {
					t.Fatal(err)
				}
				if mode.log {
					makeEmptyLog(t, path)
				}
				opts := mode.opts
				db, err := Open(path, 0o600, &opts)
				if err == nil {
					_ = db.Close()
					t.Fatalf("opened, with page size %d", db.PageSize())
				}
				msg := err.Error()
				var ce *CorruptError
				switch {
				case !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce):
					t.Errorf("%v; want ErrCorrupt", err)
				case !strings.Contains(msg, path):
					t.Errorf("%v; want the path named", err)
				case !strings.Contains(msg, fmt.Sprint(tc.sizes[0])) || !strings.Contains(msg, fmt.Sprint(tc.sizes[1])):
					t.Errorf("%v; want page sizes %d and %d named", err, tc.sizes[0], tc.sizes[1])
				default:
					t.Logf("%v", err)
				}
				if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, img) {
					t.Errorf("the file was changed by the failed open (%v)", err)
				}
			})
		}
	}
}

// TestOpenMetaPageSizeAgree is the other side: a file whose meta page 0
// is zeroed and whose meta page 1 is at the offset of its own page size
// (a crash while writing meta page 0) opens from meta page 1, at each
// page size.
func TestOpenMetaPageSizeAgree(t *testing.T) {
	for ps := page.MinPageSize; ps <= 16384; ps *= 2 {
		t.Run(fmt.Sprint(ps), func(t *testing.T) {
			path := tempPath(t)
			img := make([]byte, 2*ps)
			page.EncodeMeta(img[ps:], 1, &page.Meta{PageSize: uint32(ps), High: 2, TxID: 1})
			if err := os.WriteFile(path, img, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, 0o600, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer closeChecked(t, db)
			if db.PageSize() != ps || db.Stats().MetaFallback == "" {
				t.Errorf("page size %d, MetaFallback %q; want %d and a fallback noted", db.PageSize(), db.Stats().MetaFallback, ps)
			}
		})
	}
}

// makeEmptyLog makes the write-ahead log directory of the database at
// path, holding no records: a read-only open then takes the WAL path.
func makeEmptyLog(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(LogDir(path), 0o700); err != nil {
		t.Fatal(err)
	}
}
