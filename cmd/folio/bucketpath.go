package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foliodb/folio"
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

// parsePath splits a bucket path into its names.
func parsePath(s string) ([][]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("empty bucket path")
	}
	var names [][]byte
	var cur []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '/':
			if len(cur) == 0 {
				return nil, fmt.Errorf("bucket path %q: empty bucket name at byte %d", s, i)
			}
			names = append(names, cur)
			cur = nil
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf(`bucket path %q: trailing '\' (write "\\" for a backslash)`, s)
			}
			i++
			switch s[i] {
			case '/', '\\':
				cur = append(cur, s[i])
			case 'x':
				if i+2 >= len(s) {
					return nil, fmt.Errorf(`bucket path %q: "\x" needs two hex digits`, s)
				}
				b, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return nil, fmt.Errorf(`bucket path %q: "\x%s" is not a hex byte`, s, s[i+1:i+3])
				}
				cur = append(cur, byte(b))
				i += 2
			default:
				return nil, fmt.Errorf(`bucket path %q: unknown escape "\%c" (use "\/", "\\" or "\xHH")`, s, s[i])
			}
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) == 0 {
		return nil, fmt.Errorf("bucket path %q: empty bucket name at the end", s)
	}
	return append(names, cur), nil
}

// formatPath joins names into a path that parsePath reads back.
func formatPath(names [][]byte) string {
	var sb strings.Builder
	for i, n := range names {
		if i > 0 {
			sb.WriteByte('/')
		}
		sb.WriteString(escapeName(n))
	}
	return sb.String()
}

// escapeName escapes one bucket name for a path.
func escapeName(n []byte) string {
	var sb strings.Builder
	for len(n) > 0 {
		r, size := utf8.DecodeRune(n)
		switch {
		case r == '/' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == utf8.RuneError && size <= 1, !strconv.IsPrint(r):
			for _, b := range n[:size] {
				fmt.Fprintf(&sb, `\x%02x`, b)
			}
		default:
			sb.Write(n[:size])
		}
		n = n[size:]
	}
	return sb.String()
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
	for i := 1; err == nil && i < len(names); i++ {
		b, err = b.CreateBucketIfNotExists(names[i])
		if err != nil {
			return nil, fmt.Errorf("create bucket %q: %w", formatPath(names[:i+1]), err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", formatPath(names[:1]), err)
	}
	return b, nil
}

func missingBucket(names [][]byte, isValue bool) error {
	if isValue {
		return fmt.Errorf("%q is a key holding a value, not a bucket: %w", formatPath(names), folio.ErrIncompatibleValue)
	}
	return fmt.Errorf("bucket %q: %w", formatPath(names), folio.ErrBucketNotFound)
}
