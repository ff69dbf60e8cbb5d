package folio

import (
	"fmt"
	"strings"
	"testing"
)

// Printing a transaction, bucket or cursor names it; it must not walk the
// map (fmt's default would print the mapping and fault past the file's
// end, failing the transaction as corrupt).
func TestPrintHandles(t *testing.T) {
	db := openTest(t, &Options{})
	check := func(tx *Tx) {
		t.Helper()
		b := tx.Bucket([]byte("a")).Bucket([]byte("b"))
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			for _, x := range []struct {
				v    any
				want string
			}{
				{tx, "Tx<"},
				{b, `Bucket<"a"/"b">`},
				{b.Cursor(), `Cursor<"a"/"b">`},
				{tx.Cursor().Bucket(), `Bucket<"">`},
			} {
				if got := fmt.Sprintf(verb, x.v); !strings.HasPrefix(got, x.want) || len(got) > 200 {
					t.Errorf("Sprintf(%q, %T) = %.200q, want it to start %q", verb, x.v, got, x.want)
				}
			}
		}
		if tx.Err() != nil {
			t.Errorf("printing failed the transaction: %v", tx.Err())
		}
	}
	err := db.Update(func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		b, err := a.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		check(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error { check(tx); return nil }); err != nil {
		t.Fatal(err)
	}
}
