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

// TestCommitRefusesTruncatedFile cuts the file of a live direct-mode
// database (no WAL) underneath it, then commits. The commit must fail
// with ErrCorrupt naming the path once and both sizes, write no meta and
// not grow the file back; later writes fail with ErrSyncFailed wrapping
// that cause; reads of the pages still in the file go on. Once the file
// is put back, a reopen finds every commit before the cut and not the
// refused one. Before, the commit grew the file back with zeros and
// wrote a meta over them. A small commit takes the one-sync path, one
// with a value over a MiB the two-sync path (each checked on the intact
// file first, from the runs its meta lists).
//
// The layout keeps the refused commit's reads below every cut: bucket
// "b" and a pad (a large value deleted before anything else is written)
// come first, so the pages of b and of the bucket directory, which each
// commit rewrites, are recycled in the first low pages, and the large
// values (in "big", and the two-sync probe's) take the runs past them.
// Were a cut to reach those pages anyway, the Update would fail on a
// memory fault instead, whose error does not name the two sizes.
func TestCommitRefusesTruncatedFile(t *testing.T) {
	const ps = 1024
	for _, kind := range []struct {
		name  string
		value int  // of the probe's and of the refused commit's key in "b"
		lists bool // whether its meta lists its runs: one sync
	}{
		{"one-sync", 100, true},
		{"two-sync", 3 << 19, false},
	} {
		for _, cut := range []struct {
			name string
			// at is the new length in pages, given the high water mark
			// after the small commits only (low) and at the cut (high).
			at func(low, high int64) int64
		}{
			{"below-high", func(_, high int64) int64 { return high - 1 }},
			{"half", func(_, high int64) int64 { return high / 2 }},
			{"past-small", func(low, _ int64) int64 { return low }},
		} {
			t.Run(kind.name+"/"+cut.name, func(t *testing.T) {
				path := tempPath(t)
				opts := &Options{PageSize: ps}
				db, err := Open(path, 0o600, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				model := map[string][]byte{}
				put := func(name, k string, v []byte) {
					t.Helper()
					mustUpdate(t, db, func(tx *Tx) error {
						b, err := tx.CreateBucketIfNotExists([]byte(name))
						if err != nil {
							return err
						}
						return b.Put([]byte(k), v)
					})
					model[name+"/"+k] = v
				}
				for i := 0; i < 40; i++ {
					put("b", fmt.Sprintf("k%03d", i), []byte(strings.Repeat("v", i)))
				}
				put("b", "pad", make([]byte, 8*ps))
				in, err := db.Info()
				if err != nil {
					t.Fatal(err)
				}
				low := int64(in.HighPage)
				mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("pad")) })
				delete(model, "b/pad")
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucket([]byte("big"))
					if err != nil {
						return err
					}
					for i := 0; i < 8; i++ {
						v := bytes.Repeat([]byte{byte(i + 1)}, 32*ps)
						if err := b.Put([]byte(fmt.Sprintf("big%d", i)), v); err != nil {
							return err
						}
						model[fmt.Sprintf("big/big%d", i)] = v
					}
					return nil
				})
				put("b", "probe", bytes.Repeat([]byte{'p'}, kind.value))
				if in, err = db.Info(); err != nil {
					t.Fatal(err)
				}
				img, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if runs := page.MetaCommitRuns(img[in.MetaSlot*ps:], nil); (len(runs) > 0) != kind.lists {
					t.Fatalf("setup: a commit of a %d-byte value listed %d runs; want one sync %v", kind.value, len(runs), kind.lists)
				}
				for i := 0; i < 4; i++ {
					put("b", fmt.Sprintf("k%03d", i), []byte("again"))
				}
				if in, err = db.Info(); err != nil {
					t.Fatal(err)
				}
				high := int64(in.HighPage)
				size := cut.at(low, high) * ps
				if int64(in.Root) >= size/ps || size <= 2*ps || size >= high*ps {
					t.Fatalf("setup: cut to %d pages of %d (%d after the small commits), bucket directory at page %d", size/ps, high, low, in.Root)
				}
				saved, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, size); err != nil {
					t.Fatal(err)
				}

				err = db.Update(func(tx *Tx) error {
					return tx.Bucket([]byte("b")).Put([]byte("refused"), bytes.Repeat([]byte{'r'}, kind.value))
				})
				if !errors.Is(err, ErrCorrupt) {
					// Go on: what follows shows what the commit did.
					t.Errorf("commit over a file cut from %d to %d bytes: %v, want ErrCorrupt", in.FileSize, size, err)
				} else {
					msg := err.Error()
					if n := strings.Count(msg, path); n != 1 {
						t.Errorf("commit error %q names the path %d times", err, n)
					}
					for _, want := range []string{fmt.Sprint(in.FileSize), fmt.Sprint(size)} {
						if n := strings.Count(strings.ReplaceAll(msg, path, ""), want); n != 1 {
							t.Errorf("commit error %q says %q %d times, want once", err, want, n)
						}
					}
					t.Logf("refused: %v", err)
				}
				if fi, err := os.Stat(path); err != nil {
					t.Error(err)
				} else if fi.Size() != size {
					t.Errorf("after the refused commit the file is %d bytes; want %d, as cut", fi.Size(), size)
				}
				if got, err := db.Info(); err != nil || got.TxID != in.TxID {
					t.Errorf("after the refused commit: txid %d (%v); want %d", got.TxID, err, in.TxID)
				}

				// The first cause, not this write's, and the path once.
				err = db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("later"), nil) })
				if !errors.Is(err, ErrSyncFailed) || !errors.Is(err, ErrCorrupt) {
					t.Errorf("a write after the refused commit: %v, want ErrSyncFailed and ErrCorrupt", err)
				} else if n := strings.Count(err.Error(), path); n != 1 {
					t.Errorf("a write after the refused commit: %v: names the path %d times", err, n)
				}
				if err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					for k, want := range model {
						// The two-sync probe's value is past the cut.
						if name, k, _ := strings.Cut(k, "/"); name == "b" && len(want) < ps {
							if v := b.Get([]byte(k)); !bytes.Equal(v, want) {
								return fmt.Errorf("key %s: %q, model %q", k, v, want)
							}
						}
					}
					return nil
				}); err != nil {
					t.Errorf("reading the pages still in the file: %v", err)
				}
				if err := db.Close(); err != nil {
					t.Errorf("close after the refused commit: %v", err)
				}

				cutImg, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(cutImg, saved[:size]) {
					t.Errorf("the refused commit wrote to the file")
				}
				for slot := 0; slot < 2; slot++ {
					if m, err := page.DecodeMeta(cutImg[slot*ps:], page.ID(slot)); err == nil && m.TxID > in.TxID {
						t.Errorf("meta page %d holds txid %d: the refused commit wrote it (last commit: txid %d)", slot, m.TxID, in.TxID)
					}
				}
				if len(cutImg) < len(saved) {
					cutImg = append(cutImg, saved[len(cutImg):]...)
				}
				writeRaw(t, path, cutImg)
				db, err = Open(path, 0o600, opts)
				if err != nil {
					t.Fatalf("reopen once the file is put back: %v", err)
				}
				defer closeChecked(t, db)
				if got, err := db.Info(); err != nil || got.TxID != in.TxID {
					t.Errorf("reopened: txid %d (%v); want %d", got.TxID, err, in.TxID)
				}
				n := 0
				if err := db.View(func(tx *Tx) error {
					return tx.ForEach(func(name []byte, b *Bucket) error {
						return b.ForEach(func(k, v []byte) error {
							n++
							if want, ok := model[string(name)+"/"+string(k)]; !ok || !bytes.Equal(v, want) {
								return fmt.Errorf("%s/%s: %d bytes, model %d (present %v)", name, k, len(v), len(want), ok)
							}
							return nil
						})
					})
				}); err != nil {
					t.Error(err)
				}
				if n != len(model) {
					t.Errorf("reopened: %d keys, model %d", n, len(model))
				}
				mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("after"), []byte("v")) })
			})
		}
	}
}
