package folio

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// review21Keys returns the keys of bucket "b", in order.
func review21Keys(t *testing.T, b *Bucket) []string {
	t.Helper()
	var keys []string
	if err := b.ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestReview21CursorDeleteAfterChangeInNode: Cursor.Delete removes the
// key the cursor last returned even when a Bucket.Put or Delete since
// then moved the elements of its leaf, a leaf this transaction had
// changed before the cursor moved (a materialised node, which the
// cursor reads live). It deleted the element now at the cursor's index:
// the key before it after a Put before it, the key after it after a
// Delete before it or of the key itself (which the README's "Cursor.Delete
// removes the key under the cursor even if the bucket changed since it
// moved" rules out), and refused or removed by the flags of that
// neighbour, not of the key.
func TestReview21CursorDeleteAfterChangeInNode(t *testing.T) {
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
				if got := review21Keys(t, b); !slices.Equal(got, want) {
					t.Errorf("keys %v, want %v", got, want)
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
			if got, want := review21Keys(t, b), []string{"c", "d", "e"}; !slices.Equal(got, want) {
				t.Errorf("keys %v, want %v", got, want)
			}
			return nil
		})
	})
}
