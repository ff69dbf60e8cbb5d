package folio

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// withoutCommitRuns returns img with both meta pages rewritten without
// their lists of commit runs, as two-sync commits leave them. Tests that
// damage pages on purpose use it: on a page the newest commit lists,
// damage is indistinguishable from a crash before that commit's one sync,
// and Open falls back to the older meta instead of reporting it.
func withoutCommitRuns(t *testing.T, img []byte) []byte {
	t.Helper()
	m0, err := page.DecodeMeta(img, 0)
	if err != nil {
		return img // a test of a damaged meta: leave it as it is
	}
	img = append([]byte(nil), img...)
	ps := int(m0.PageSize)
	for slot := 0; slot < 2 && (slot+1)*ps <= len(img); slot++ {
		p := img[slot*ps : (slot+1)*ps]
		m, err := page.DecodeMeta(p, page.ID(slot))
		if err != nil || len(page.MetaCommitRuns(p, nil)) == 0 {
			continue
		}
		page.EncodeMeta(p, page.ID(slot), &m)
	}
	return img
}

func stripCommitRuns(t *testing.T, path string) {
	t.Helper()
	img := mustRead(t, path)
	writeImage(t, path, img)
}

// oneSyncFixture makes three commits of one put each, all one-sync
// commits, and returns the path and the Info after the last.
func oneSyncFixture(t *testing.T) (string, Info) {
	t.Helper()
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"one", "two", "three"} {
		mustPutIn(t, db, "b", []byte{byte('a' + i)}, []byte(v))
	}
	info, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	img := closedImage(t, db)
	if runs := page.MetaCommitRuns(img[info.MetaSlot*ps:], nil); len(runs) == 0 {
		t.Fatalf("a one-put commit's meta lists no runs: it did not commit with one sync")
	}
	return path, info
}

// TestOneSyncTornCommit: a small commit writes its pages and its meta and
// syncs once, so a crash can leave its meta without some of its pages.
// Each run the meta lists lost (zeroed, or left as it was before) makes
// Open fall back to the older meta, say so naming the page, and serve
// the state before that commit; the file then takes commits as usual.
func TestOneSyncTornCommit(t *testing.T) {
	path, info := oneSyncFixture(t)
	img := mustRead(t, path)
	const ps = 1024
	runs := page.MetaCommitRuns(img[info.MetaSlot*ps:], nil)
	for _, r := range runs {
		for _, how := range []string{"zeroed", "torn"} {
			bad := append([]byte(nil), img...)
			at := bad[int(r.ID)*ps : int(r.ID+page.ID(r.Pages))*ps]
			if how == "zeroed" {
				clear(at)
			} else {
				at[len(at)-1] ^= 0x5a // the last sector did not make it
			}
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, 0o600, nil)
			if err != nil {
				t.Fatalf("run at %d %s: %v", r.ID, how, err)
			}
			fb := db.Stats().MetaFallback
			if !strings.Contains(fb, "did not reach the disk whole") || !strings.Contains(fb, "page "+strconv.Itoa(int(r.ID))) {
				t.Errorf("run at %d %s: MetaFallback %q; want the torn commit and its page named", r.ID, how, fb)
			}
			got, _ := db.Info()
			if got.TxID != info.TxID-1 {
				t.Errorf("run at %d %s: opened txid %d; want %d", r.ID, how, got.TxID, info.TxID-1)
			}
			if err := db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if b == nil || string(b.Get([]byte("b"))) != "two" || b.Get([]byte("c")) != nil {
					t.Errorf("run at %d %s: not the state before the torn commit", r.ID, how)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			mustCheck(t, db)
			mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("c"), []byte("again")) })
			mustCheck(t, db)
			closeChecked(t, db)
		}
	}
}

// TestOneSyncBothMetasBad: when the newest commit is torn and the older
// meta's own listed runs fail too, nothing whole is left to open: an
// error wrapping ErrCorrupt, never an empty or mixed state.
func TestOneSyncBothMetasBad(t *testing.T) {
	path, info := oneSyncFixture(t)
	img := mustRead(t, path)
	const ps = 1024
	for _, slot := range []int{info.MetaSlot, 1 - info.MetaSlot} {
		runs := page.MetaCommitRuns(img[slot*ps:], nil)
		if len(runs) == 0 {
			t.Fatalf("meta %d lists no runs", slot)
		}
		// The run not shared with the other commit: the last listed
		// (the free list is rewritten by every commit).
		r := runs[len(runs)-1]
		img[int(r.ID)*ps+page.HeaderSize] ^= 1
	}
	writeRaw(t, path, img)
	db, err := Open(path, 0o600, nil)
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a file whose two metas both name damaged runs")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("open: %v; want ErrCorrupt", err)
	}
}

// TestOneSyncLargeCommitSyncsTwice: a commit whose runs do not fit in the
// meta's list syncs its pages before it writes its meta, and its meta
// lists nothing.
func TestOneSyncLargeCommitSyncsTwice(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 4*page.MaxCommitRuns(ps); i++ {
			if err := b.Put([]byte(strconv.Itoa(i*7919)), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	info, _ := db.Info()
	img := closedImage(t, db)
	if runs := page.MetaCommitRuns(img[info.MetaSlot*ps:], nil); len(runs) != 0 {
		t.Errorf("a commit of %d keys listed %d runs; want a two-sync commit", 4*page.MaxCommitRuns(ps), len(runs))
	}
}

func writeRaw(t *testing.T, path string, img []byte) {
	t.Helper()
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOneSyncBigValueSyncsTwice: a commit writing more than a MiB (one
// large value) syncs twice and lists nothing, so that no Open has to
// read and checksum it.
func TestOneSyncBigValueSyncsTwice(t *testing.T) {
	const ps = 4096
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), make([]byte, 2<<20))
	})
	info, _ := db.Info()
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("small"), []byte("v")) })
	info2, _ := db.Info()
	img := closedImage(t, db)
	if runs := page.MetaCommitRuns(img[info.MetaSlot*ps:], nil); len(runs) != 0 {
		t.Errorf("a commit of a 2 MiB value listed %d runs; want a two-sync commit", len(runs))
	}
	if runs := page.MetaCommitRuns(img[info2.MetaSlot*ps:], nil); len(runs) == 0 {
		t.Errorf("the one-put commit after it listed no runs; want a one-sync commit")
	}
}
