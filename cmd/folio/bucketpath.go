package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/cmd/folio/internal/dumpfmt"
)

// A bucket path names a nested bucket on the command line: names joined
// by '/', as in "a/b/c". A name holding '/' or '\' writes them as "\/"
// and "\\"; any other byte may be written "\xHH", which is how formatPath
// shows bytes that are not printable UTF-8, so every path the tool prints
// can be pasted back into it.
//
// We rejected taking the path as several arguments ("a b c"): the access
// commands' other arguments are positional too, and one argument per path
// keeps "folio get DB PATH KEY" the same shape at every depth.

// parsePath splits a bucket path into its names. It is the notation of
// dump block names (dumpfmt), so a block name pastes into --bucket.
func parsePath(s string) ([][]byte, error) { return dumpfmt.DecodePath(s) }

// formatPath joins names into a path that parsePath reads back.
func formatPath(names [][]byte) string { return dumpfmt.EncodePath(names) }

// quotePath is formatPath for an error message: quoted, as the library
// and quoteKey quote names and keys (so a name holding ": " or a space
// reads apart from the words around it), and clipped as quoteKey clips a
// key: a bucket name may be 32 KiB (one over the limit is a mistake the
// message reports), and echoing the path whole buried the message.
func quotePath(names [][]byte) string {
	const show = 64
	p := formatPath(names)
	if len(p) <= show {
		return strconv.Quote(p)
	}
	return fmt.Sprintf("%q... (%d bytes)", p[:show], len(p))
}

// lookupBucket opens the bucket at names in tx, or says which part of the
// path is missing (an error wrapping folio.ErrBucketNotFound).
func lookupBucket(tx *folio.Tx, names [][]byte) (*folio.Bucket, error) {
	b := tx.Bucket(names[0])
	for i := 1; b != nil && i < len(names); i++ {
		next := b.Bucket(names[i])
		if next == nil {
			return nil, missingBucket(names[:i+1], b.Get(names[i]) != nil)
		}
		b = next
	}
	if b == nil {
		return nil, missingBucket(names[:1], false)
	}
	return b, nil
}

// createBuckets opens the bucket at names, creating what is missing.
func createBuckets(tx *folio.Tx, names [][]byte) (*folio.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists(names[0])
	if err != nil {
		return nil, bucketCreateError(names[:1], err)
	}
	for i := 1; i < len(names); i++ {
		if b, err = b.CreateBucketIfNotExists(names[i]); err != nil {
			return nil, bucketCreateError(names[:i+1], err)
		}
	}
	return b, nil
}

// bucketCreateError says why the bucket at names could not be created,
// naming it once: the library's refusal names it again in its own form
// (`"k" in "x"/"y"`).
func bucketCreateError(names [][]byte, err error) error {
	switch {
	case errors.Is(err, folio.ErrIncompatibleValue):
		return missingBucket(names, true)
	case errors.Is(err, folio.ErrKeyTooLarge):
		return fmt.Errorf("create bucket %s: %w (a name holds at most %d bytes)", quotePath(names), folio.ErrKeyTooLarge, folio.MaxKeySize)
	}
	return fmt.Errorf("create bucket %s: %w", quotePath(names), err)
}

func missingBucket(names [][]byte, isValue bool) error {
	if isValue {
		return fmt.Errorf("%s is a key holding a value, not a bucket: %w", quotePath(names), folio.ErrIncompatibleValue)
	}
	return fmt.Errorf("bucket %s: %w", quotePath(names), folio.ErrBucketNotFound)
}
