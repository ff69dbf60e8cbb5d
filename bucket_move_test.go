package folio

import (
	"errors"
	"fmt"
	"testing"
)

// TestMoveBucketThenStats asks a bucket moved in the transaction for its
// Stats: they describe its committed state, as for any bucket, and the
// transaction still commits. (The move marked the bucket with a root id
// no page has; Stats walked it and failed the transaction as corrupt.)
func TestMoveBucketThenStats(t *testing.T) {
	db := openTest(t, nil)
	if err := db.Update(func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("b")); err != nil {
			return err
		}
		x, err := a.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		for i := 0; i < 100; i++ {
			if err := x.Put(fmt.Appendf(nil, "k%03d", i), make([]byte, 50)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error {
		if err := tx.MoveBucket([]byte("x"), tx.Bucket([]byte("a")), tx.Bucket([]byte("b"))); err != nil {
			return err
		}
		x := tx.Bucket([]byte("b")).Bucket([]byte("x"))
		if s := x.Stats(); s.KeyN != 100 {
			return fmt.Errorf("moved bucket's Stats: %d keys, want 100", s.KeyN)
		}
		if err := tx.Err(); err != nil {
			return fmt.Errorf("Stats failed the transaction: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		if tx.Bucket([]byte("a")).Bucket([]byte("x")) != nil {
			return errors.New("x still in a")
		}
		x := tx.Bucket([]byte("b")).Bucket([]byte("x"))
		if x == nil {
			return errors.New("x not in b")
		}
		if s := x.Stats(); s.KeyN != 100 {
			return fmt.Errorf("Stats: %d keys, want 100", s.KeyN)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestMoveBucketHeaderAfterMove changes a bucket after moving it, back
// to its committed state: the new parent must end with the bucket's
// final header, not the one it had when it moved.
func TestMoveBucketHeaderAfterMove(t *testing.T) {
	db := openTest(t, nil)
	if err := db.Update(func(tx *Tx) error {
		x, err := tx.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("b")); err != nil {
			return err
		}
		return x.SetSequence(3)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error {
		x := tx.Bucket([]byte("x"))
		if err := x.SetSequence(5); err != nil {
			return err
		}
		if err := tx.MoveBucket([]byte("x"), nil, tx.Bucket([]byte("b"))); err != nil {
			return err
		}
		return x.SetSequence(3)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *Tx) error {
		x := tx.Bucket([]byte("b")).Bucket([]byte("x"))
		if x == nil {
			return errors.New("x not in b")
		}
		if x.Sequence() != 3 {
			return fmt.Errorf("moved bucket's sequence %d, want 3", x.Sequence())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
