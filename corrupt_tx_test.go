package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/foliodb/folio/page"
)

// damagedLeaf writes the fixture with one non-root leaf of a nested
// bucket damaged (its checksum no longer what its parent expects) and
// returns the file, the leaf and a key on it.
func damagedLeaf(t *testing.T) (string, walkedPage, []byte) {
	t.Helper()
	const ps = 1024
	path, img, _ := corruptFixture(t, ps)
	_, pages := pageMap(t, img)
	for _, p := range pick(pages, page.FlagLeaf) {
		if len(p.bucket) == 0 {
			continue
		}
		bad := bytes.Clone(img)
		bad[int(p.id)*ps] ^= 0x80 // the stored checksum
		writeImage(t, path, bad)
		return path, p, p.keys[len(p.keys)/2]
	}
	t.Fatal("the fixture has no non-root leaf in a bucket")
	return "", walkedPage{}, nil
}

// wantCorrupt checks that err is ErrCorrupt and names page id.
func wantCorrupt(t *testing.T, what string, err error, id page.ID) {
	t.Helper()
	var ce *CorruptError
	switch {
	case !errors.Is(err, ErrCorrupt):
		t.Errorf("%s: %v, want ErrCorrupt", what, err)
	case !errors.As(err, &ce) || ce.Page != id:
		t.Errorf("%s: %v, want a *CorruptError for page %d", what, err, id)
	}
}

// TestCorruptPageEndsTx checks that a corrupt page met by Get or by a
// cursor inside View, Update or Batch ends the transaction with an error
// wrapping ErrCorrupt that names the page, even when the function itself
// returns nil; an Update or Batch that met one commits nothing.
func TestCorruptPageEndsTx(t *testing.T) {
	path, leaf, key := damagedLeaf(t)
	db := openPath(t, path, nil)
	get := func(tx *Tx) error {
		b := bucketAt(tx, leaf.bucket)
		if b == nil {
			return fmt.Errorf("bucket %v missing", leaf.bucket)
		}
		if v := b.Get(key); v != nil {
			return fmt.Errorf("Get(%q) on the damaged page returned %q", key, v)
		}
		return nil
	}
	walk := func(tx *Tx) error {
		b := bucketAt(tx, leaf.bucket)
		if b == nil {
			return fmt.Errorf("bucket %v missing", leaf.bucket)
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
		}
		return nil
	}
	wantCorrupt(t, "View+Get", db.View(get), leaf.id)
	wantCorrupt(t, "View+Cursor", db.View(walk), leaf.id)
	write := func(read func(*Tx) error) func(*Tx) error {
		return func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("written"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			return read(tx)
		}
	}
	wantCorrupt(t, "Update+Get", db.Update(write(get)), leaf.id)
	wantCorrupt(t, "Update+Cursor", db.Update(write(walk)), leaf.id)
	wantCorrupt(t, "Batch+Get", db.Batch(write(get)), leaf.id)
	// Begin-style callers see the error through Tx.Err, and Commit
	// refuses the transaction.
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(get)(tx); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, "Tx.Err after Get", tx.Err(), leaf.id)
	wantCorrupt(t, "Commit after Get", tx.Commit(), leaf.id)
	if err := db.View(func(tx *Tx) error {
		if tx.Bucket([]byte("written")) != nil {
			return errors.New("a transaction that met a corrupt page was committed")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestTruncatedUnderneath truncates the file while the database is open
// and mapped: reading the vanished pages faults (SIGBUS), and View,
// Update and Check turn that into ErrCorrupt instead of crashing.
func TestTruncatedUnderneath(t *testing.T) {
	const ps = 4096
	path := tempPath(t)
	db := openPath(t, path, &Options{PageSize: ps})
	for i := 1; i <= 10; i++ {
		if err := db.Update(fillDeep(i*1000, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(path, 2*ps); err != nil {
		t.Fatal(err)
	}
	err := db.View(readAll)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("View reading a truncated file: %v, want ErrCorrupt", err)
	}
	err = db.Update(func(tx *Tx) error { return tx.Bucket([]byte("deep")).Put([]byte("deep-key-005000"), nil) })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Update on a truncated file: %v, want ErrCorrupt", err)
	}
	err = db.View(func(tx *Tx) error {
		n := 0
		for err := range tx.Check() {
			n++
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Check on a truncated file: %v, want ErrCorrupt", err)
			}
		}
		if n == 0 {
			t.Error("Check found nothing wrong with a truncated file")
		}
		return nil
	})
	if err != nil {
		t.Errorf("View running Check: %v", err)
	}
}
