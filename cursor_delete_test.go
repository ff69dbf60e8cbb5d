package folio

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// checkReplayedCopy runs check on db and closes it; in WAL mode it
// then runs check again on crash (the file as the last checkpoint left
// it) with db's log replayed, which must give the same state.
func checkReplayedCopy(t *testing.T, db *DB, path, crash string, walMode bool, check func(*DB)) {
	t.Helper()
	check(db)
	if walMode {
		copyDir(t, LogDir(path), LogDir(crash))
	}
	closeChecked(t, db)
	if walMode {
		db2, err := Open(crash, 0o600, logicalOpts())
		if err != nil {
			t.Fatalf("open after the crash: %v", err)
		}
		check(db2)
		closeChecked(t, db2)
	}
}

// keysOfB returns the keys of bucket b, in order.
func keysOfB(t *testing.T, b *Bucket) []string {
	t.Helper()
	var keys []string
	if err := b.ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestCursorDeleteAfterChangeInNode: Cursor.Delete removes the
// key the cursor last returned even when a Bucket.Put or Delete since
// then moved the elements of its leaf, a leaf this transaction had
// changed before the cursor moved (a materialised node, which the
// cursor reads live). It deleted the element now at the cursor's index:
// the key before it after a Put before it, the key after it after a
// Delete before it or of the key itself (which the README's "Cursor.Delete
// removes the key under the cursor even if the bucket changed since it
// moved" rules out), and refused or removed by the flags of that
// neighbour, not of the key.
func TestCursorDeleteAfterChangeInNode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(b *Bucket) error
		// want is what Cursor.Delete leaves, of k00..k18 (even) and
		// the change; err the Delete's error.
		gone string
		add  string
		err  error
	}{
		{name: "put before", change: func(b *Bucket) error { return b.Put([]byte("k03"), []byte("v")) }, gone: "k10", add: "k03"},
		{name: "delete before", change: func(b *Bucket) error { return b.Delete([]byte("k04")) }, gone: "k10"},
		{name: "delete it", change: func(b *Bucket) error { return b.Delete([]byte("k10")) }, gone: "k10"},
		{name: "bucket before", change: func(b *Bucket) error { _, err := b.CreateBucket([]byte("k03")); return err }, gone: "k10", add: "k03"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, nil)
			var base []string
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range 10 {
					k := fmt.Sprintf("k%02d", 2*i)
					base = append(base, k)
					if err := b.Put([]byte(k), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			})
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				// The leaf becomes a node of this transaction.
				if err := b.Put([]byte("k99"), []byte("v")); err != nil {
					return err
				}
				c := b.Cursor()
				if k, _ := c.Seek([]byte("k10")); string(k) != "k10" {
					return fmt.Errorf("Seek = %q", k)
				}
				if err := tc.change(b); err != nil {
					return err
				}
				if err := c.Delete(); err != nil {
					return fmt.Errorf("Delete: %w", err)
				}
				if k, _ := c.Next(); string(k) != "k12" {
					t.Errorf("Next after Delete = %q, want k12", k)
				}
				if k, _ := c.Prev(); string(k) != "k08" {
					t.Errorf("Prev = %q, want k08", k)
				}
				want := append(slices.Clone(base), "k99")
				if tc.add != "" {
					want = append(want, tc.add)
				}
				if tc.name == "delete before" {
					want = slices.DeleteFunc(want, func(k string) bool { return k == "k04" })
				}
				want = slices.DeleteFunc(want, func(k string) bool { return k == tc.gone })
				slices.Sort(want)
				if got := keysOfB(t, b); !slices.Equal(got, want) {
					t.Errorf("keys %v, want %v", got, want)
				}
				return nil
			})
		})
	}
	// The cursor on the leaf's last key but one: deletes before it leave
	// the index past the node's end, and puts before it split the node
	// (a node past four pages splits at once) so that the key is in
	// another one. Delete removed nothing.
	for _, tc := range []struct {
		name     string
		change   func(b *Bucket) error
		prevWant string
	}{
		{name: "index past the end", prevWant: "k16", change: func(b *Bucket) error {
			for i := 0; i < 10; i += 2 {
				if err := b.Delete([]byte(fmt.Sprintf("k%02d", i))); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "node split", prevWant: "k17-199", change: func(b *Bucket) error {
			for i := range 200 {
				if err := b.Put([]byte(fmt.Sprintf("k17-%03d", i)), make([]byte, 50)); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, nil)
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range 10 {
					if err := b.Put([]byte(fmt.Sprintf("k%02d", 2*i)), []byte("v")); err != nil {
						return err
					}
				}
				if err := b.Put([]byte("k99"), []byte("v")); err != nil {
					return err
				}
				c := b.Cursor()
				if k, _ := c.Seek([]byte("k18")); string(k) != "k18" {
					return fmt.Errorf("Seek = %q", k)
				}
				if err := tc.change(b); err != nil {
					return err
				}
				if err := c.Delete(); err != nil {
					return fmt.Errorf("Delete: %w", err)
				}
				if v := b.Get([]byte("k18")); v != nil {
					t.Errorf("k18 still there after Cursor.Delete")
				}
				if k, _ := c.Next(); string(k) != "k99" {
					t.Errorf("Next after Delete = %q, want k99", k)
				}
				if k, _ := c.Prev(); string(k) != tc.prevWant {
					t.Errorf("Prev = %q, want %s", k, tc.prevWant)
				}
				return nil
			})
		})
	}
	// The cursor on a nested bucket: after a Delete before it moved the
	// key that follows under the index, Cursor.Delete still refuses.
	t.Run("on a bucket", func(t *testing.T) {
		db := openTest(t, nil)
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			for _, k := range []string{"a", "c", "e"} {
				if err := b.Put([]byte(k), []byte("v")); err != nil {
					return err
				}
			}
			if _, err := b.CreateBucket([]byte("d")); err != nil {
				return err
			}
			c := b.Cursor()
			if k, _ := c.Seek([]byte("d")); string(k) != "d" {
				return fmt.Errorf("Seek = %q", k)
			}
			if err := b.Delete([]byte("a")); err != nil {
				return err
			}
			if err := c.Delete(); !errors.Is(err, ErrIncompatibleValue) {
				t.Errorf("Delete on bucket d = %v, want ErrIncompatibleValue", err)
			}
			if got, want := keysOfB(t, b), []string{"c", "d", "e"}; !slices.Equal(got, want) {
				t.Errorf("keys %v, want %v", got, want)
			}
			return nil
		})
	})
}

// TestCursorDeleteKeyChangedKind: a cursor standing on a key of a
// committed leaf, which the transaction then deleted and created again
// as the other kind (a nested bucket for a value, a value for a bucket),
// judges Cursor.Delete by what the key holds now. It judged by the
// committed page: it removed a new bucket's element and returned nil
// (the commit then put the bucket back from its open handle; in WAL mode
// the logged delete of a bucket's key made the replay after a crash fail
// Open with ErrCorrupt), and refused a new value as a bucket.
func TestCursorDeleteKeyChangedKind(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			dir := t.TempDir()
			path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
			opts := &Options{PageSize: 1024}
			if walMode {
				opts = logicalOpts()
			}
			db, err := Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			db.WALImageLimit = -1 // log operations
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for _, k := range []string{"a", "x", "z"} {
					if err := b.Put([]byte(k), []byte("v")); err != nil {
						return err
					}
				}
				_, err = b.CreateBucket([]byte("y"))
				return err
			})
			if walMode {
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				copyFile(t, path, crash)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				// Both on committed leaves: x a value, y a bucket.
				c, cy := b.Cursor(), b.Cursor()
				if k, _ := c.Seek([]byte("x")); string(k) != "x" {
					return fmt.Errorf("Seek = %q", k)
				}
				if k, _ := cy.Seek([]byte("y")); string(k) != "y" {
					return fmt.Errorf("Seek = %q", k)
				}
				if err := b.Delete([]byte("x")); err != nil {
					return err
				}
				nb, err := b.CreateBucket([]byte("x"))
				if err != nil {
					return err
				}
				if err := nb.Put([]byte("in"), []byte("v")); err != nil {
					return err
				}
				if err := b.DeleteBucket([]byte("y")); err != nil {
					return err
				}
				if err := b.Put([]byte("y"), []byte("now a value")); err != nil {
					return err
				}
				if err := c.Delete(); !errors.Is(err, ErrIncompatibleValue) {
					t.Errorf("Cursor.Delete on x, now a bucket: %v, want ErrIncompatibleValue", err)
				}
				if k, v := c.Seek([]byte("x")); string(k) != "x" || v != nil {
					t.Errorf("Seek(x) after the refused Delete = %q, %q; want the bucket", k, v)
				}
				if err := cy.Delete(); err != nil {
					t.Errorf("Cursor.Delete on y, now a value: %v", err)
				}
				if v := b.Get([]byte("y")); v != nil {
					t.Errorf("y = %q after Cursor.Delete", v)
				}
				return nil
			})
			check := func(db *DB) {
				t.Helper()
				err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if got, want := keysOfB(t, b), []string{"a", "x", "z"}; !slices.Equal(got, want) {
						t.Errorf("keys %v, want %v", got, want)
					}
					if v := b.Bucket([]byte("x")).Get([]byte("in")); string(v) != "v" {
						t.Errorf("x/in = %q, want v", v)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			checkReplayedCopy(t, db, path, crash, walMode, check)
		})
	}
}

// TestCursorSecondDeleteAfterChange: after Cursor.Delete the
// cursor rests before the key that followed the one deleted, and a
// second Delete removes that key (README) even if a Bucket.Put or Delete
// in between moved the leaf's elements. It removed the element then at
// the cursor's index: the key just put before it, or the one after it.
func TestCursorSecondDeleteAfterChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(b *Bucket) error
		want   []string
		next   string // what Next returns then: g if empty
	}{
		{name: "put before", change: func(b *Bucket) error { return b.Put([]byte("b"), []byte("new")) }, want: []string{"a", "b", "g"}},
		{name: "delete before", change: func(b *Bucket) error { return b.Delete([]byte("a")) }, want: []string{"g"}},
		// d is now what follows c: it goes, and e follows.
		{name: "put between", next: "e", change: func(b *Bucket) error { return b.Put([]byte("d"), []byte("new")) }, want: []string{"a", "e", "g"}},
		{name: "put it again", change: func(b *Bucket) error { return b.Put([]byte("c"), []byte("new")) }, want: []string{"a", "c", "g"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, nil)
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for _, k := range []string{"a", "c", "e", "g"} {
					if err := b.Put([]byte(k), []byte("v")); err != nil {
						return err
					}
				}
				c := b.Cursor()
				if k, _ := c.Seek([]byte("c")); string(k) != "c" {
					return fmt.Errorf("Seek = %q", k)
				}
				if err := c.Delete(); err != nil {
					return err
				}
				if err := tc.change(b); err != nil {
					return err
				}
				if err := c.Delete(); err != nil {
					return fmt.Errorf("second Delete: %w", err)
				}
				if got := keysOfB(t, b); !slices.Equal(got, tc.want) {
					t.Errorf("keys %v, want %v", got, tc.want)
				}
				next := cmp.Or(tc.next, "g")
				if k, _ := c.Next(); string(k) != next {
					t.Errorf("Next after the second Delete = %q, want %s", k, next)
				}
				return nil
			})
		})
	}
}

// TestCursorDeleteAfterOtherCursorDelete: a Cursor.Delete by
// another cursor of the bucket is a change like Bucket.Delete: the
// first cursor's Delete still removes the key it stands on.
func TestCursorDeleteAfterOtherCursorDelete(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "c", "e", "g"} {
			if err := b.Put([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		c1, c2 := b.Cursor(), b.Cursor()
		if k, _ := c1.Seek([]byte("e")); string(k) != "e" {
			return fmt.Errorf("Seek = %q", k)
		}
		if k, _ := c2.Seek([]byte("a")); string(k) != "a" {
			return fmt.Errorf("Seek = %q", k)
		}
		if err := c2.Delete(); err != nil {
			return err
		}
		if err := c1.Delete(); err != nil {
			return err
		}
		if got, want := keysOfB(t, b), []string{"c", "g"}; !slices.Equal(got, want) {
			t.Errorf("keys %v, want %v", got, want)
		}
		return nil
	})
}
