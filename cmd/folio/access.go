package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/foliodb/folio"
	"github.com/spf13/cobra"
)

// The scriptable access commands: buckets, keys, get, put, delete. Bucket
// paths are parsed in bucketpath.go.

func init() {
	commands = append(commands, newBucketsCmd, newKeysCmd, newGetCmd, newPutCmd, newDeleteCmd)
}

// errKeyNotFound is returned by get and delete for a missing key.
var errKeyNotFound = errors.New("key not found")

// errNothingToDo rolls back an Update that found nothing to change.
var errNothingToDo = errors.New("nothing to do")

// dataFormat is how keys and values are written on the command line and
// printed: raw bytes, hex or base64. It is a pflag.Value, so a bad name is
// a flag error (exit 2) before anything is opened.
type dataFormat string

const (
	formatRaw    dataFormat = "raw"
	formatHex    dataFormat = "hex"
	formatBase64 dataFormat = "base64"
)

func (f *dataFormat) String() string { return string(*f) }
func (f *dataFormat) Type() string   { return "raw|hex|base64" }
func (f *dataFormat) Set(s string) error {
	switch dataFormat(s) {
	case formatRaw, formatHex, formatBase64:
		*f = dataFormat(s)
		return nil
	}
	return fmt.Errorf("unknown format %q (want raw, hex or base64)", s)
}

// decode reads a key or value given in format f; what names it in errors.
func (f dataFormat) decode(s, what string) ([]byte, error) {
	var b []byte
	var err error
	switch f {
	case formatHex:
		b, err = hex.DecodeString(s)
	case formatBase64:
		b, err = base64.StdEncoding.DecodeString(s)
	default:
		b = []byte(s)
	}
	if err != nil {
		return nil, usagef("%s %q is not %s: %v", what, s, f, err)
	}
	return b, nil
}

// write prints b in format f, and a newline if nl. NB: raw output of
// binary data is exactly its bytes, so a value holding a newline cannot
// be told apart from two lines; hex and base64 are for such data.
//
// A slice at a time: a value may be 2 GiB. Encoded whole, then copied
// into fmt's buffer, a hex value allocated 8.5 times its size, base64 4
// times, and raw copied it whole to append the newline
// (TestLargeValueCLIGetMemory). A key or small value is still one write.
func (f dataFormat) write(w io.Writer, b []byte, nl bool) error {
	const step = 48 << 10 // a multiple of 3: base64 pads only at the end
	buf := make([]byte, 0, min(len(b), step)*2+1)
	for first := true; first || len(b) > 0; first = false {
		chunk := b[:min(len(b), step)]
		b = b[len(chunk):]
		switch f {
		case formatHex:
			buf = hex.AppendEncode(buf[:0], chunk)
		case formatBase64:
			buf = base64.StdEncoding.AppendEncode(buf[:0], chunk)
		default:
			buf = append(buf[:0], chunk...)
		}
		if len(b) == 0 && nl {
			buf = append(buf, '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

func addFormatFlag(cmd *cobra.Command, f *dataFormat) {
	*f = formatRaw
	cmd.Flags().Var(f, "format", "how keys and values are given and printed: raw, hex or base64")
}

// bucketArg parses a PATH argument; a malformed path is bad usage.
func bucketArg(s string) ([][]byte, error) {
	names, err := parsePath(s)
	if err != nil {
		return nil, usageError{err}
	}
	return names, nil
}

// bucketKeyArgs reads the PATH and KEY arguments (args[1], args[2]) that
// get, put and delete share.
func bucketKeyArgs(args []string, format dataFormat) ([][]byte, []byte, error) {
	names, err := bucketArg(args[1])
	if err != nil {
		return nil, nil, err
	}
	key, err := format.decode(args[2], "key")
	if err != nil {
		return nil, nil, err
	}
	return names, key, nil
}

func newBucketsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "buckets DB [PATH]",
		Short: "List bucket paths, nested buckets included",
		Long: `Buckets prints the path of every bucket, one per line, each followed by
the buckets nested in it ("a", "a/b", "a/b/c", "b"...), so the listing
reads as a tree and each line can be given to keys, get, put or delete.
With PATH, only the buckets under it are listed.

In a path, names are joined by "/"; a "/" or "\" inside a name is written
"\/" or "\\", and bytes that are not printable as "\xHH".

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio buckets app.db
  folio buckets app.db users   # users/... only`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			var names [][]byte
			if len(args) == 2 {
				if names, err = bucketArg(args[1]); err != nil {
					return err
				}
			}
			db, err := a.openDB(args[0], true)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			err = db.View(func(tx *folio.Tx) error {
				if names == nil {
					return tx.ForEach(func(name []byte, b *folio.Bucket) error {
						return listBuckets(a.stdout, b, [][]byte{name})
					})
				}
				b, err := lookupBucket(tx, names)
				if err != nil {
					return err
				}
				return b.ForEachBucket(func(name []byte) error {
					return listBuckets(a.stdout, b.Bucket(name), append(names[:len(names):len(names)], name))
				})
			})
			if err != nil {
				return withPath(args[0], err)
			}
			return nil
		},
	}
	return cmd
}

// listBuckets prints path and the paths of the buckets nested in b.
func listBuckets(w io.Writer, b *folio.Bucket, path [][]byte) error {
	if _, err := fmt.Fprintln(w, formatPath(path)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return b.ForEachBucket(func(name []byte) error {
		return listBuckets(w, b.Bucket(name), append(path[:len(path):len(path)], name))
	})
}

func newKeysCmd(a *app) *cobra.Command {
	var (
		format dataFormat
		prefix string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "keys DB PATH",
		Short: "List the keys of a bucket",
		Long: `Keys prints the keys of the bucket at PATH that hold values, one per line
in key order; nested buckets are listed by "folio buckets". --prefix keeps
the keys that start with a prefix (given in --format, like the keys);
--limit stops after N keys. A key holding a newline fails the raw format
(it would read as two keys), and so does, on a terminal, a key that is not
text (not UTF-8, or holding control characters, which drive the
terminal): list such keys with --format hex or base64.

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio keys app.db users
  folio keys app.db users/sessions --prefix 2024- --limit 10
  folio keys app.db blobs --format hex`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			names, err := bucketArg(args[1])
			if err != nil {
				return err
			}
			pre, err := format.decode(prefix, "prefix")
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef("--limit %d: want 0 (no limit) or more", limit)
			}
			db, err := a.openDB(args[0], true)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			tty := isTerminal(a.stdout)
			err = db.View(func(tx *folio.Tx) error {
				b, err := lookupBucket(tx, names)
				if err != nil {
					return err
				}
				c := b.Cursor()
				n := 0
				for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
					if v == nil {
						continue // a nested bucket
					}
					if limit > 0 && n == limit {
						break
					}
					if format == formatRaw && bytes.IndexByte(k, '\n') >= 0 {
						// One per line, it would read as two keys.
						return fmt.Errorf("bucket %s: key %s holds a newline, which raw format cannot print one per line: use --format hex or base64",
							quotePath(names), quoteKey(k))
					}
					if format == formatRaw && tty && !isText(k) {
						// As get does with such a value: an escape
						// sequence in a key drove the terminal.
						return fmt.Errorf("bucket %s: key %s is not text, which raw format does not write to a terminal: use --format hex or base64, or redirect the output",
							quotePath(names), quoteKey(k))
					}
					if err := format.write(a.stdout, k, true); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return withPath(args[0], err)
			}
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	cmd.Flags().StringVar(&prefix, "prefix", "", "only keys starting with this prefix")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many keys (0: all)")
	return cmd
}

func newGetCmd(a *app) *cobra.Command {
	var format dataFormat
	cmd := &cobra.Command{
		Use:   "get DB PATH KEY",
		Short: "Print the value of a key",
		Long: `Get prints the value of KEY in the bucket at PATH. In raw format (the
default) it writes the value's bytes exactly, followed by a newline only
on a terminal, so "folio get DB PATH KEY > file" and "folio put DB PATH
KEY < file" copy any value unchanged. On a terminal, a raw value that is
not text (not UTF-8, or holding control characters but tab, newline and
carriage return, which drive the terminal) is refused (exit status 2), as
dump refuses binary output there. A missing key is an error (exit status
1), as is a key that holds a nested bucket. With --format hex or
base64, KEY is given and the value printed in that encoding, and a
newline.

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio get app.db users alice
  folio get app.db 'config/feature\/flags' beta
  folio get --format hex app.db blobs 00ff > value.hex`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			names, key, err := bucketKeyArgs(args, format)
			if err != nil {
				return err
			}
			db, err := a.openDB(args[0], true)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			err = db.View(func(tx *folio.Tx) error {
				b, err := lookupBucket(tx, names)
				if err != nil {
					return err
				}
				v := b.Get(key)
				if v == nil {
					return missingKey(b, names, key)
				}
				tty := isTerminal(a.stdout)
				if format == formatRaw && tty && !isText(v) {
					// NB: as dump refuses binary output there: an escape
					// sequence in the value drove the terminal.
					return usagef("not writing the value of key %s in bucket %s (%d bytes, not text) to a terminal: "+
						"use --format hex or base64, or redirect it to a file", quoteKey(key), quotePath(names), len(v))
				}
				// NB: a raw value's bytes exactly, unless for a person
				// to read: "get > file" then "put < file" copies it.
				return format.write(a.stdout, v, format != formatRaw || tty)
			})
			if err != nil {
				return withPath(args[0], err)
			}
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// isText reports whether b is text a terminal shows as it is: UTF-8,
// with no control characters but tab, newline and carriage return (text
// from Windows ends its lines in CR LF).
func isText(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r >= 0x7f && r <= 0x9f {
			return false
		}
		b = b[n:]
	}
	return true
}

// missingKey says why b has no value for key.
func missingKey(b *folio.Bucket, names [][]byte, key []byte) error {
	if b.Bucket(key) != nil {
		return keyIsBucket(names, key)
	}
	return fmt.Errorf("bucket %s: %w: %s", quotePath(names), errKeyNotFound, quoteKey(key))
}

// keyIsBucket refuses a value operation on key, which holds a nested
// bucket in the bucket at names.
func keyIsBucket(names [][]byte, key []byte) error {
	return fmt.Errorf("key %s in bucket %s holds a nested bucket, not a value: %w", quoteKey(key), quotePath(names), folio.ErrIncompatibleValue)
}

// putError says why Put of key (and a value of n bytes) into the bucket at
// names failed, once and in the tool's words. NB: the library's refusals
// name the key and the bucket already, in its own path form ("a"/"b");
// wrapped, they said both twice (`put "y" in bucket x: incompatible
// value: "y" in "x"`), so the ones a user can cause are said anew.
func putError(names [][]byte, key []byte, n int, err error) error {
	switch {
	case errors.Is(err, folio.ErrIncompatibleValue):
		return keyIsBucket(names, key)
	case errors.Is(err, folio.ErrKeyRequired):
		return fmt.Errorf("bucket %s: %w (the key given is empty)", quotePath(names), folio.ErrKeyRequired)
	case errors.Is(err, folio.ErrKeyTooLarge):
		return fmt.Errorf("bucket %s: %w: %s; at most %d bytes", quotePath(names), folio.ErrKeyTooLarge, quoteKey(key), folio.MaxKeySize)
	case errors.Is(err, folio.ErrValueTooLarge):
		return fmt.Errorf("key %s in bucket %s: %w: %d bytes; at most %d", quoteKey(key), quotePath(names), folio.ErrValueTooLarge, n, int64(folio.MaxValueSize))
	}
	return fmt.Errorf("put %s in bucket %s: %w", quoteKey(key), quotePath(names), err)
}

func newPutCmd(a *app) *cobra.Command {
	var (
		format dataFormat
		create bool
	)
	cmd := &cobra.Command{
		Use:   "put DB PATH KEY [VALUE]",
		Short: "Set the value of a key",
		Long: `Put sets KEY to VALUE in the bucket at PATH and commits (synced). Without
VALUE, the value is read from standard input (all of it, as it is; with
--format hex or base64 surrounding white space is ignored); an empty pipe
is refused, as the command writing it failed before its first byte (an
empty value is given as VALUE: ''), and so is a terminal.

The bucket must exist, unless --create is given: then every missing bucket
on the path is created. A key that holds a nested bucket cannot be given a
value. The database is opened read-write (exclusive lock). Interrupted
(SIGINT, SIGTERM: exit 130, 143), put says whether it committed ("DB is
as it was", "the put was committed to DB before it").`,
		Example: `  folio put app.db users alice '{"admin":true}'
  folio put --create app.db config/feature\/flags beta on
  folio put app.db blobs logo < logo.png
  folio put --format hex app.db blobs 00ff 0102`,
		Args: cobra.RangeArgs(3, 4),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			names, key, err := bucketKeyArgs(args, format)
			if err != nil {
				return err
			}
			a.cleanups.noteAsItWas(args[0])
			var value []byte
			switch {
			case len(args) == 4:
				value, err = format.decode(args[3], "value")
			case isTerminalReader(a.stdin):
				// NB: as load without a dump: VALUE left out, put waited
				// on the terminal, saying nothing, and Ctrl-D then set
				// an empty value.
				err = usagef("no VALUE given, and standard input is a terminal: give VALUE, or pipe or redirect the value in (an empty value is '')")
			default:
				if err = a.needStdin(cmd); err == nil {
					value, err = readValue(a.stdin, format)
				}
			}
			if err != nil {
				return err
			}
			db, err := a.openDB(args[0], false)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			err = a.updateNoted(db, args[0], "put", func(tx *folio.Tx) error {
				var b *folio.Bucket
				var err error
				if create {
					b, err = createBuckets(tx, names)
				} else {
					b, err = lookupBucket(tx, names)
					if errors.Is(err, folio.ErrBucketNotFound) {
						err = fmt.Errorf("%w (use --create to create it)", err)
					}
				}
				if err != nil {
					return err
				}
				if err := b.Put(key, value); err != nil {
					return putError(names, key, len(value), err)
				}
				return nil
			})
			if err != nil {
				return withPath(args[0], err)
			}
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	cmd.Flags().BoolVar(&create, "create", false, "create the buckets on PATH that do not exist")
	return cmd
}

// updateNoted runs fn in a write transaction of db, opened from path,
// and once it commits, sets what an interrupt says the file holds
// (cleanups.note, "path is as it was" before: noteAsItWas) to "the put
// (what) was committed to path before it". A signal during the commit
// waits for it, as during a load's (loader.flush): one right after it
// said only "interrupted", exit 130, and the change was made.
func (a *app) updateNoted(db *folio.DB, path, what string, fn func(*folio.Tx) error) error {
	held := false
	err := db.Update(func(tx *folio.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		a.cleanups.mu.Lock()
		held = true
		return nil
	})
	if !held {
		return err
	}
	defer a.cleanups.mu.Unlock()
	if err != nil {
		return err
	}
	if inPlaceCommitted != nil {
		inPlaceCommitted(a)
	}
	a.cleanups.note = fmt.Sprintf("the %s was committed to %s before it", what, path)
	return nil
}

// maxValueInput is the most put reads of a raw value on standard input:
// the largest value folio holds (a variable, so a test can lower it).
var maxValueInput int64 = folio.MaxValueSize

// readValue reads a value from r (put without VALUE). It reads no more
// than the largest value given in format could take, and fails beyond
// it: reading all of a larger input (a device, a wrong file) cost its
// size in memory before Put refused it. Hex and base64 are decoded as
// they are read (decodeReader), so only the value is held: read whole,
// then decoded, from a pipe they took twice the text and more, 4.0 and
// 3.7 times the value, where now 2 (TestPutPipeReadMemory).
func readValue(r io.Reader, format dataFormat) ([]byte, error) {
	limit := maxValueInput
	switch format {
	case formatHex:
		limit = 2*limit + 64<<10 // and surrounding white space
	case formatBase64:
		limit = (limit+2)/3*4 + 64<<10
	}
	in := &io.LimitedReader{R: r, N: limit + 1}
	var src io.Reader = in
	size := regularSize(r)
	if format != formatRaw {
		src = newDecodeReader(in, format)
		// The most the text holds: hex a byte in 2, base64 3 in 4.
		if size >= 0 && format == formatHex {
			size /= 2
		} else if size >= 0 {
			size = size / 4 * 3
		}
	}
	b, err := readAllSized(src, size, limit+1)
	var bad decodeError
	if errors.As(err, &bad) {
		// As when the text was read whole before it was decoded: an
		// input too long fails as such (exit 1), bad text or not.
		_, err = io.Copy(io.Discard, in)
	}
	if err != nil {
		return nil, fmt.Errorf("read the value from standard input: %w", err)
	}
	read := limit + 1 - in.N // bytes of r's
	if read == 0 && isPipe(r) {
		// NB: "produce | folio put ..." with produce failing set the
		// key to nothing, and exited 0.
		return nil, errors.New("standard input is an empty pipe: the command writing it wrote nothing (did it fail?); give an empty value as VALUE ('')")
	}
	if read > limit {
		if format == formatRaw {
			return nil, fmt.Errorf("the value on standard input is longer than %d bytes, the most a value holds: %w", limit, folio.ErrValueTooLarge)
		}
		return nil, fmt.Errorf("the value on standard input is longer than %d bytes, the most %s of a value of %d bytes takes: %w",
			limit, format, maxValueInput, folio.ErrValueTooLarge)
	}
	if bad.err != nil {
		return nil, usagef("value on standard input is not %s: %v", format, bad.err)
	}
	return b, nil
}

// regularSize is how many bytes r, a regular file, has left to read, or
// -1 for any other reader (a pipe's length is unknown).
func regularSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return -1
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || fi.Size() < off {
		return -1
	}
	return fi.Size() - off
}

// readAllSized is io.ReadAll of at most limit bytes from r, into a
// buffer of size bytes when size is known (not -1): grown a quarter at a
// time, a 16 MiB value from a file allocated twice its size
// (TestLargeValueCLIPutMemory). Else readAllSteps.
func readAllSized(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 {
		return readAllSteps(r, limit)
	}
	// One byte more, to see the end (or that it grew).
	b := make([]byte, 0, min(size, limit)+1)
	for int64(len(b)) < limit {
		m, err := r.Read(b[len(b):min(int64(cap(b)), limit)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // it grew: as io.ReadAll
		}
	}
	return b, nil
}

// readAllSteps is io.ReadAll of at most limit bytes from r, whose size is
// not known (a pipe): read into pieces, each a 32nd of what came
// before (64 KiB at least), then copied once into a slice of the size
// read. It allocates the input about twice, a value ending inside the
// first piece once. We rejected growing one slice (append's steps): each
// step copies all before it. io.ReadAll (Go 1.26) reads in pieces too,
// but each half again the last, so the last may be mostly empty: 2.16
// times the input (TestPutPipeReadMemory), 4.17 times the value for all
// of put, which Put's copy and the commit's make 4.04 now.
func readAllSteps(r io.Reader, limit int64) ([]byte, error) {
	const first = 64 << 10
	var pieces [][]byte
	var done int64 // bytes in pieces
	b := make([]byte, 0, min(first, limit))
	var err error
	for done+int64(len(b)) < limit {
		if len(b) == cap(b) {
			pieces = append(pieces, b)
			done += int64(len(b))
			b = make([]byte, 0, min(max(first, done/32), limit-done))
		}
		var m int
		m, err = r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
	}
	if len(pieces) == 0 {
		return b, err
	}
	all := make([]byte, 0, done+int64(len(b)))
	for _, p := range pieces {
		all = append(all, p...)
	}
	return append(all, b...), err
}

func newDeleteCmd(a *app) *cobra.Command {
	var (
		format    dataFormat
		missingOK bool
	)
	cmd := &cobra.Command{
		Use:   "delete DB PATH KEY",
		Short: "Delete a key",
		Long: `Delete removes KEY from the bucket at PATH and commits (synced). A missing
key is an error (exit status 1) unless --missing-ok is given. Nested buckets
are not deleted by this command. The database is opened read-write
(exclusive lock). Interrupted (SIGINT, SIGTERM: exit 130, 143), delete
says whether it committed, as put does.`,
		Example: `  folio delete app.db users alice
  folio delete --missing-ok app.db sessions/2024 token-1234`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			names, key, err := bucketKeyArgs(args, format)
			if err != nil {
				return err
			}
			a.cleanups.noteAsItWas(args[0])
			db, err := a.openDB(args[0], false)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			err = a.updateNoted(db, args[0], "delete", func(tx *folio.Tx) error {
				b, err := lookupBucket(tx, names)
				if err != nil {
					return err
				}
				if b.Get(key) == nil {
					err := missingKey(b, names, key)
					if missingOK && errors.Is(err, errKeyNotFound) {
						// Roll back: nothing to commit, and the file
						// stays as it was.
						return errNothingToDo
					}
					return err
				}
				if err := b.Delete(key); err != nil {
					return fmt.Errorf("delete %s from bucket %s: %w", quoteKey(key), quotePath(names), err)
				}
				return nil
			})
			if err != nil && err != errNothingToDo {
				return withPath(args[0], err)
			}
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	cmd.Flags().BoolVar(&missingOK, "missing-ok", false, "a missing key is not an error")
	return cmd
}
