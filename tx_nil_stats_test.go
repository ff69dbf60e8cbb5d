package folio

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The handles left over from the misuse fixes (api_misuse_test.go): the
// Stats and String of the nil *Bucket of a missing name and of a deleted
// bucket, String on nil handles, and refusals of a closed or read-only
// DB that name the file.

// TestNilBucketStats: Stats of the nil *Bucket (it panicked), of a bucket
// deleted in the transaction and of one under it (they reported the
// deleted trees as committed, walking pages the deletion freed) are zero,
// as after the transaction ended; an empty bucket counts itself, as an
// inline one (no page of its own, as bbolt counts it).
func TestNilBucketStats(t *testing.T) {
	db := misuseFixture(t, &Options{PageSize: 1024})
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 200 {
			if err := b.Put(fmt.Appendf(nil, "p%03d", i), make([]byte, 60)); err != nil {
				return err
			}
		}
		_, err := tx.CreateBucket([]byte("empty"))
		return err
	})
	zero := BucketStats{}
	check := func(tx *Tx) error {
		if s := tx.Bucket([]byte("missing")).Stats(); s != zero {
			t.Errorf("nil bucket (writable %v): Stats = %+v, want zero", tx.Writable(), s)
		}
		if s := tx.Bucket([]byte("empty")).Stats(); s != (BucketStats{BucketN: 1, InlineBucketN: 1}) {
			t.Errorf("empty bucket: Stats = %+v, want BucketN 1, InlineBucketN 1 (as bbolt's) and nothing else", s)
		}
		return nil
	}
	if err := db.View(check); err != nil {
		t.Fatal(err)
	}
	err := db.Update(func(tx *Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		b := tx.Bucket([]byte("b"))
		n := b.Bucket([]byte("nested"))
		if s := b.Stats(); s.KeyN < 200 || s.BucketN != 2 || s.LeafPageN < 2 {
			return fmt.Errorf("before the delete: Stats = %+v, want 200 keys and more, 2 buckets, 2 leaves and more", s)
		}
		if err := tx.DeleteBucket([]byte("b")); err != nil {
			return err
		}
		for _, h := range []struct {
			name string
			b    *Bucket
		}{{"deleted bucket", b}, {"bucket under a deleted one", n}} {
			if s := h.b.Stats(); s != zero {
				t.Errorf("%s: Stats = %+v, want zero", h.name, s)
			}
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
}

// TestNilHandlesString calls String and GoString on nil handles (and
// on the cursor of the nil *Bucket) directly, where fmt's recovery does
// not help: each panicked, and fmt printed the cursor as a PANIC. Each
// prints as fmt prints a nil pointer. A DB's %#v is its String too: fmt
// walked its fields, every spare page buffer included.
func TestNilHandlesString(t *testing.T) {
	type stringer interface {
		String() string
		GoString() string
	}
	var (
		nb *Bucket
		nt *Tx
		nc *Cursor
		nd *DB
	)
	for _, x := range []struct {
		name string
		v    stringer
		want string
	}{
		{"nil *Bucket", nb, "<nil>"},
		{"nil *Tx", nt, "<nil>"},
		{"nil *Cursor", nc, "<nil>"},
		{"nil *DB", nd, "<nil>"},
		{"the nil *Bucket's cursor", nb.Cursor(), "Cursor<nil>"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic: %v", x.name, r)
				}
			}()
			if got := x.v.String(); got != x.want {
				t.Errorf("%s: String() = %q, want %q", x.name, got, x.want)
			}
			if got := x.v.GoString(); got != x.want {
				t.Errorf("%s: GoString() = %q, want %q", x.name, got, x.want)
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				if got := fmt.Sprintf(verb, x.v); got != x.want {
					t.Errorf("%s: Sprintf(%q) = %q, want %q", x.name, verb, got, x.want)
				}
			}
		}()
	}

	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		_, err := tx.CreateBucket([]byte("a"))
		return err
	})
	want := fmt.Sprintf("DB<%q>", db.Path())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, db); got != want {
			t.Errorf("Sprintf(%q, db) = %.200q, want %q", verb, got, want)
		}
	}
}

// TestMisuseErrorsNameTheFile: a closed DB's ErrDatabaseNotOpen and a
// read-only DB's ErrDatabaseReadOnly name the file (they came bare, so a
// program with several databases could not tell which one refused), and
// errors.Is still finds them.
func TestMisuseErrorsNameTheFile(t *testing.T) {
	for _, wal := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "named.db")
		db, err := Open(path, 0o600, &Options{PageSize: 1024, WAL: wal})
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *Tx) error {
			_, err := tx.CreateBucket([]byte("b"))
			return err
		})
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		wantNamed := func(what string, err, target error) {
			t.Helper()
			what = fmt.Sprintf("WAL %v: %s", wal, what)
			if !errors.Is(err, target) {
				t.Errorf("%s: %v, want %v", what, err, target)
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %q does not name %s", what, err, path)
			}
		}
		for _, rw := range []bool{false, true} {
			_, err := db.Begin(rw)
			wantNamed(fmt.Sprintf("closed: Begin(%v)", rw), err, ErrDatabaseNotOpen)
		}
		wantNamed("closed: View", db.View(func(*Tx) error { return nil }), ErrDatabaseNotOpen)
		wantNamed("closed: Update", db.Update(func(*Tx) error { return nil }), ErrDatabaseNotOpen)
		wantNamed("closed: Batch", db.Batch(func(*Tx) error { return nil }), ErrDatabaseNotOpen)
		wantNamed("closed: Sync", db.Sync(), ErrDatabaseNotOpen)
		_, err = db.Info()
		wantNamed("closed: Info", err, ErrDatabaseNotOpen)
		// NB: Checkpoint (tx/wal.go) still returns ErrDatabaseNotOpen bare.
		wantIs(t, "closed: Checkpoint", db.Checkpoint(), ErrDatabaseNotOpen)

		ro, err := Open(path, 0o600, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if wtx, err := ro.Begin(true); err == nil {
			_ = wtx.Rollback()
			t.Errorf("WAL %v: read-only Begin(true) began", wal)
		} else {
			wantNamed("read-only: Begin(true)", err, ErrDatabaseReadOnly)
		}
		wantNamed("read-only: Update", ro.Update(func(*Tx) error { return nil }), ErrDatabaseReadOnly)
		wantNamed("read-only: Batch", ro.Batch(func(*Tx) error { return nil }), ErrDatabaseReadOnly)
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
