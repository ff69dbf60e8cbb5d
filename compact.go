package folio

import (
	"fmt"
	"strings"
)

// Compact copies every bucket, nested bucket, bucket sequence, key and
// value of src into dst, as bbolt's Compact does: src is read in one read
// transaction, so it may be in use meanwhile and dst gets one consistent
// state of it; dst is written in key order with full pages (FillPercent
// 1), in write transactions of at most txMaxSize bytes of keys and values
// each (0 or negative: all in one transaction, where bbolt's commits
// before every entry for a negative one; an entry larger than txMaxSize
// goes alone).
//
// The buckets of src must not exist in dst (ErrBucketExists, naming the
// bucket). dst may not be src (ErrCopyOntoDB). On an error dst keeps the
// transactions committed before it: start again from an empty database.
// The folio tool's compact does the same from the shell, builds the copy
// under a temporary name and checks it before putting it in place.
func Compact(dst, src *DB, txMaxSize int64) (err error) {
	if dst == nil || src == nil {
		return fmt.Errorf("folio: compact: nil database: %w", unprefixed{ErrDatabaseNotOpen})
	}
	if dst == src {
		return fmt.Errorf("folio: compact %s into itself: %w", src.Path(), unprefixed{ErrCopyOntoDB})
	}
	c := &compactor{max: txMaxSize, dst: dst}
	if c.tx, err = dst.Begin(true); err != nil {
		return fmt.Errorf("folio: compact: %w", unprefixed{err}) // it names dst
	}
	defer func() {
		if c.tx != nil {
			_ = c.tx.Rollback()
		}
	}()
	err = src.View(func(tx *Tx) error {
		return tx.ForEach(func(name []byte, b *Bucket) error { return c.bucket(name, b) })
	})
	if err == nil {
		err = c.tx.Commit()
		c.tx = nil
	}
	if err != nil {
		return fmt.Errorf("folio: compact %s into %s: %w", src.Path(), dst.Path(), unprefixed{err})
	}
	return nil
}

// unprefixed is err inside Compact's message, which says "folio: " once:
// err's text without its own "folio: " (errors.Is and errors.As still
// reach err).
type unprefixed struct{ err error }

func (e unprefixed) Error() string { return strings.TrimPrefix(e.err.Error(), "folio: ") }
func (e unprefixed) Unwrap() error { return e.err }

// compactor is Compact's state: the write transaction on dst and the
// buckets open in it, from the top, with their names in src (valid for
// src's read transaction, which outlives the copy).
type compactor struct {
	dst   *DB
	max   int64
	tx    *Tx
	size  int64 // bytes of keys and values in tx
	path  [][]byte
	stack []*Bucket
}

// bucket copies src's bucket name (nested in the buckets on c.path) and
// everything in it.
func (c *compactor) bucket(name []byte, src *Bucket) error {
	if err := c.account(len(name)); err != nil {
		return err
	}
	var b *Bucket
	var err error
	if len(c.stack) == 0 {
		b, err = c.tx.CreateBucket(name)
	} else {
		b, err = c.stack[len(c.stack)-1].CreateBucket(name)
	}
	// NB: dst's errors name the key and the bucket already (clipped).
	if err != nil {
		return err
	}
	b.FillPercent = 1
	if seq := src.Sequence(); seq != 0 {
		if err := b.SetSequence(seq); err != nil {
			return err
		}
	}
	c.path, c.stack = append(c.path, name), append(c.stack, b)
	defer func() { c.path, c.stack = c.path[:len(c.path)-1], c.stack[:len(c.stack)-1] }()
	return src.ForEach(func(k, v []byte) error {
		if v == nil {
			if child := src.Bucket(k); child != nil {
				return c.bucket(k, child)
			}
		}
		if err := c.account(len(k) + len(v)); err != nil {
			return err
		}
		return c.stack[len(c.stack)-1].Put(k, v)
	})
}

// account makes room for n more bytes in the transaction: past c.max it
// commits and begins the next, opening the buckets on c.path again.
func (c *compactor) account(n int) error {
	if c.max > 0 && c.size > 0 && c.size+int64(n) > c.max {
		err := c.tx.Commit()
		c.tx = nil
		if err != nil {
			return err
		}
		if c.tx, err = c.dst.Begin(true); err != nil {
			return err
		}
		c.size = 0
		for i, name := range c.path {
			var b *Bucket
			if i == 0 {
				b = c.tx.Bucket(name)
			} else {
				b = c.stack[i-1].Bucket(name)
			}
			if b == nil { // dst changed under us between our transactions
				return fmt.Errorf("%w: %.64q (level %d) left dst between its transactions", ErrBucketNotFound, name, i+1)
			}
			b.FillPercent = 1
			c.stack[i] = b
		}
	}
	c.size += int64(n)
	return nil
}
