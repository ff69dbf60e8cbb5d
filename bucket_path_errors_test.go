package folio

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestBucketPathErrorsUnambiguous: an error (and a bucket's String) names
// a nested bucket by a path no other bucket reads as: a top-level bucket
// named "a/b" and a bucket "b" in bucket "a" were both "a/b". A top-level
// bucket with a plain name still reads "name", quoted.
func TestBucketPathErrorsUnambiguous(t *testing.T) {
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		slash, err := tx.CreateBucket([]byte("a/b"))
		if err != nil {
			return err
		}
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		nested, err := a.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		deeper, err := nested.CreateBucket([]byte("c"))
		if err != nil {
			return err
		}
		msg := func(b *Bucket) string {
			err := b.Put(nil, []byte("v"))
			if !errors.Is(err, ErrKeyRequired) {
				t.Fatalf("%v: Put(nil) = %v, want ErrKeyRequired", b, err)
			}
			return err.Error()
		}
		slashMsg, nestedMsg := msg(slash), msg(nested)
		if slashMsg == nestedMsg {
			t.Errorf("bucket \"a/b\" and bucket \"b\" in \"a\" read the same: %q", slashMsg)
		}
		if s, n := fmt.Sprint(slash), fmt.Sprint(nested); s == n {
			t.Errorf("bucket \"a/b\" and bucket \"b\" in \"a\" print the same: %s", s)
		}
		for _, tc := range []struct {
			b    *Bucket
			want string
		}{
			{slash, `in "a/b"`},
			{a, `in "a"`},
			{nested, `in "a"/"b"`},
			{deeper, `in "a"/"b"/"c"`},
		} {
			if m := msg(tc.b); !strings.Contains(m, tc.want) {
				t.Errorf("%q does not say %q", m, tc.want)
			}
		}
		// A deep path shows its ends, and how many names it leaves out.
		deep := deeper
		for _, name := range []string{"d", "e", "f", "g", "h", "i"} {
			if deep, err = deep.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if m, want := msg(deep), `in "a"/"b"/"c"/...3 more.../"g"/"h"/"i"`; !strings.Contains(m, want) {
			t.Errorf("%q does not say %q", m, want)
		}
		return nil
	})
}
