package folio

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestBucketInlineDamagedEveryByte changes each byte of two inline
// bucket values (header and leaf; one in the bucket directory's leaf, one
// in a bucket's), three ways each, resealing the page holding it, so only
// the inline leaf's own checks can tell. Opening, reading everything,
// Stats of every bucket, Check and writes everywhere may fail, with
// ErrCorrupt naming a page, but never panic; a file Check passes reads
// and takes writes without error.
func TestBucketInlineDamagedEveryByte(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		top, err := tx.CreateBucket([]byte("t"))
		if err != nil {
			return err
		}
		p, err := tx.CreateBucket([]byte("p"))
		if err != nil {
			return err
		}
		if err := p.Put([]byte("paged"), pagedValue(ps)); err != nil {
			return err
		}
		b, err := p.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"k0", "k1", "k2"} {
			if err := b.Put([]byte(k), []byte("v-"+k)); err != nil {
				return err
			}
			if err := top.Put([]byte(k), []byte("")); err != nil {
				return err
			}
		}
		if _, err := b.NextSequence(); err != nil {
			return err
		}
		return nil
	})
	closeChecked(t, db)
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e := newEditImage(t, img)
	leafP := e.leafOf(t, "p")
	runs := 0
	for _, target := range []struct {
		id  page.ID
		key string
	}{{e.meta.Root, "t"}, {leafP, "b"}} {
		_, v := leafElemValue(t, e.run(target.id), target.key)
		if h, err := page.DecodeBucketHeader(v, target.id); err != nil || !h.Inline {
			t.Fatalf("%s is not inline: %+v, %v", target.key, h, err)
		}
		for off := range v {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				t.Run(fmt.Sprintf("%s/byte=%d/xor=%#x", target.key, off, mask), func(t *testing.T) {
					d := newEditImage(t, img)
					_, dv := leafElemValue(t, d.run(target.id), target.key)
					dv[off] ^= mask
					d.reseal(target.id)
					runs++
					damagedInlineRead(t, d.b)
				})
			}
		}
	}
	t.Logf("%d damaged images", runs)
}

// damagedInlineRead opens img with and without VerifyChecksums, reads
// everything, takes every bucket's Stats, runs Check and writes.
func damagedInlineRead(t *testing.T, img []byte) {
	t.Helper()
	for _, opts := range []*Options{{}, {VerifyChecksums: true}} {
		db, err := openImage(t, "damaged.db", img, opts)
		if err != nil {
			wantDamageErr(t, "open", err, true)
			continue
		}
		readErr := db.View(readAll)
		if readErr != nil {
			wantDamageErr(t, "reads", readErr, false)
		}
		statsErr := db.View(func(tx *Tx) error {
			var walk func(b *Bucket, depth int)
			walk = func(b *Bucket, depth int) {
				if b == nil || depth > 8 {
					return
				}
				_ = b.Stats()
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if v == nil {
						walk(b.Bucket(k), depth+1)
					}
				}
				for _, k := range []string{"", "k1", "k9", "\xff"} {
					c.Seek([]byte(k))
					c.Prev()
				}
			}
			_ = tx.Stats()
			c := tx.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				walk(tx.Bucket(k), 0)
			}
			return tx.Err()
		})
		if statsErr != nil {
			wantDamageErr(t, "Stats", statsErr, false)
		}
		problems := checkErrs(db)
		for _, err := range problems {
			wantDamageErr(t, "Check", err, false)
		}
		writeErr := writeEverywhere(db)
		if writeErr != nil && !errors.Is(writeErr, ErrCorrupt) && len(problems) == 0 {
			t.Errorf("writes: %v", writeErr)
		}
		if len(problems) == 0 {
			if readErr != nil || statsErr != nil || writeErr != nil {
				t.Errorf("Check passed, but reads said %v, Stats %v and writes %v", readErr, statsErr, writeErr)
			}
			for _, err := range checkErrs(db) {
				t.Errorf("Check passed, then after writes: %v", err)
			}
		} else if readErr == nil && opts.VerifyChecksums {
			t.Errorf("Check found %v, reads nothing", problems)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
}
