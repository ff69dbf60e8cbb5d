package folio

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestInfoSaysHowOpenDeviated: Info's OlderMeta, FreelistRebuilt and
// FreeListedInUse say which ways Open deviated from the newest meta page
// and its persisted free list. Before, only MetaFallback's words said
// it, and folio check told an older state from a rebuilt free list by
// the note's first words, which a rewording would have broken.
func TestInfoSaysHowOpenDeviated(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := b.Put(fmt.Appendf(nil, "%d", i), make([]byte, 30+round)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	img := imageAfterClose(t, db)
	var metas [2]page.Meta
	for slot := range 2 {
		if metas[slot], err = page.DecodeMeta(img[slot*ps:], page.ID(slot)); err != nil {
			t.Fatal(err)
		}
	}
	newest := 0
	if metas[1].TxID > metas[0].TxID {
		newest = 1
	}
	older := 1 - newest
	if metas[newest].Freelist == 0 || metas[older].Freelist == 0 {
		t.Fatalf("a meta page names no free list: %+v", metas)
	}
	zeroMeta := func(b []byte, slot int) { clear(b[slot*ps : (slot+1)*ps]) }
	damageFreelist := func(b []byte, slot int) { b[int(metas[slot].Freelist)*ps+40] ^= 0xff }

	type want struct {
		olderMeta, rebuilt, inUse bool
	}
	for _, tc := range []struct {
		name   string
		damage func(b []byte)
		opts   *Options
		want   want
	}{
		{"clean", func(b []byte) {}, &Options{ReadOnly: true}, want{}},
		{"older meta", func(b []byte) { zeroMeta(b, newest) }, &Options{ReadOnly: true}, want{olderMeta: true}},
		{"free list rebuilt", func(b []byte) { damageFreelist(b, newest) }, &Options{ReadOnly: true}, want{rebuilt: true}},
		{"free list rebuilt, read-write", func(b []byte) { damageFreelist(b, newest) }, &Options{VerifyChecksums: true}, want{rebuilt: true}},
		{"older meta, its free list rebuilt", func(b []byte) {
			zeroMeta(b, newest)
			damageFreelist(b, older)
		}, &Options{ReadOnly: true}, want{olderMeta: true, rebuilt: true}},
		{"free list names a page in use", func(b []byte) {
			e := newEditImage(t, b)
			free := e.freePages()
			for id, p := range e.pages {
				if p.kind == page.FlagLeaf {
					free[id] = true
					break
				}
			}
			e.setFree(free)
			copy(b, e.b)
		}, &Options{VerifyChecksums: true}, want{inUse: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(img)
			tc.damage(b)
			writeImage(t, path, b)
			db, err := Open(path, 0o600, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			// NB: not closeChecked: Check reports the damage made here.
			defer db.Close()
			in, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			got := want{in.OlderMeta, in.FreelistRebuilt, in.FreeListedInUse > 0}
			if got != tc.want || (in.MetaFallback != "") != (tc.want != want{}) {
				t.Errorf("Info: OlderMeta %v, FreelistRebuilt %v, FreeListedInUse %d, MetaFallback %q; want %+v",
					in.OlderMeta, in.FreelistRebuilt, in.FreeListedInUse, in.MetaFallback, tc.want)
			}
			if wantTxID := metas[newest].TxID; tc.want.olderMeta {
				if in.TxID != metas[older].TxID {
					t.Errorf("txid %d, want the older meta's %d", in.TxID, metas[older].TxID)
				}
			} else if in.TxID != wantTxID {
				t.Errorf("txid %d, want the newest meta's %d", in.TxID, wantTxID)
			}
		})
	}
}
