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
