package tx_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// The refusals of bucket.go where a request is wrong in two ways say
// what bbolt says: found by the root package's TestBboltDiff.

// TestMoveBucketChecksTheKeyFirst: MoveBucket with the same source and
// destination says why the key cannot move, if it cannot, before
// ErrSameBuckets (it said ErrSameBuckets for a missing key).
func TestMoveBucketChecksTheKeyFirst(t *testing.T) {
	db := openBucketTest(t)
	err := db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("nested")); err != nil {
			return err
		}
		if err := b.Put([]byte("value"), []byte("v")); err != nil {
			return err
		}
		for _, c := range []struct {
			key  string
			want error
		}{
			{"missing", folio.ErrBucketNotFound},
			{"value", folio.ErrIncompatibleValue},
			{"nested", folio.ErrSameBuckets},
		} {
			if err := tx.MoveBucket([]byte(c.key), b, b); !errors.Is(err, c.want) {
				t.Errorf("MoveBucket(%s) within one bucket: %v, want %v", c.key, err, c.want)
			}
			if err := tx.MoveBucket([]byte(c.key+"-top"), nil, nil); !errors.Is(err, folio.ErrBucketNotFound) {
				t.Errorf("MoveBucket(%s-top) within the top level: %v, want ErrBucketNotFound", c.key, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPutTopLevelChecksTheKeyFirst: a Put into the root bucket (which
// holds only buckets) of an empty or too long key is refused for the key
// (ErrKeyRequired, ErrKeyTooLarge), as anywhere else; a valid plain key
// is refused with ErrIncompatibleValue (it said so for all three).
func TestPutTopLevelChecksTheKeyFirst(t *testing.T) {
	db := openBucketTest(t)
	err := db.Update(func(tx *folio.Tx) error {
		root := tx.Cursor().Bucket()
		for _, c := range []struct {
			key  []byte
			want error
		}{
			{nil, folio.ErrKeyRequired},
			{make([]byte, folio.MaxKeySize+1), folio.ErrKeyTooLarge},
			{[]byte("plain"), folio.ErrIncompatibleValue},
		} {
			if err := root.Put(c.key, []byte("v")); !errors.Is(err, c.want) {
				t.Errorf("Put of a %d-byte key at the top level: %v, want %v", len(c.key), err, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openBucketTest(t *testing.T) *tx.DB {
	t.Helper()
	db, err := folio.Open(filepath.Join(t.TempDir(), "db"), 0o600, &folio.Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// TestMoveBucketDestinationCheckedFirst: MoveBucket checks the
// destination's transaction before the key, as bbolt's does: a
// destination in another DB is ErrDifferentDB, one in a read transaction
// ErrTxNotWritable, also for a key b does not hold. After those, the key:
// empty is ErrBucketNameRequired, longer than MaxKeySize (no bucket can
// have such a name) ErrBucketNotFound. Nothing moves. The nil *Bucket
// of a missing name, as dst, is the top level.
func TestMoveBucketDestinationCheckedFirst(t *testing.T) {
	db, other := openBucketTest(t), openBucketTest(t)
	for _, d := range []*tx.DB{db, other} {
		if err := d.Update(func(tx *folio.Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			_, err = b.CreateBucket([]byte("nested"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	otx, err := other.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer otx.Rollback()
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	err = db.Update(func(tx *folio.Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, c := range []struct {
			what string
			key  []byte
			dst  *folio.Bucket
			want error
		}{
			{"a missing key into another DB", []byte("missing"), otx.Bucket([]byte("b")), folio.ErrDifferentDB},
			{"into another DB", []byte("nested"), otx.Bucket([]byte("b")), folio.ErrDifferentDB},
			{"a missing key into a read transaction", []byte("missing"), rtx.Bucket([]byte("b")), folio.ErrTxNotWritable},
			{"an empty key", nil, nil, folio.ErrBucketNameRequired},
			{"a key past MaxKeySize", make([]byte, folio.MaxKeySize+1), nil, folio.ErrBucketNotFound},
		} {
			if err := b.MoveBucket(c.key, c.dst); !errors.Is(err, c.want) {
				t.Errorf("MoveBucket of %s: %v, want %v", c.what, err, c.want)
			}
		}
		if b.Bucket([]byte("nested")) == nil || otx.Bucket([]byte("b")).Bucket([]byte("nested")) == nil {
			t.Error("a refused MoveBucket moved the bucket")
		}
		// NB: the nil *Bucket of a missing name is the top level.
		if err := b.MoveBucket([]byte("nested"), tx.Bucket([]byte("missing"))); err != nil || tx.Bucket([]byte("nested")) == nil {
			t.Errorf("MoveBucket into the nil *Bucket of a missing name: %v; want it moved to the top level", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
