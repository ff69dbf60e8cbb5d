package main

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/cmd/folio/internal/dumpfmt"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newDumpCmd) }

func newDumpCmd(a *app) *cobra.Command {
	var (
		bucket, format, output string
		compress               bool
	)
	cmd := &cobra.Command{
		Use:   "dump DB [--bucket PATH] [--format text|print|binary] [--zstd] [-o FILE]",
		Short: "Write a database's buckets and keys as a dump (LMDB-compatible text, or binary)",
		Long: `Dump writes every bucket of the database (or of --bucket PATH and the
buckets under it), one block per bucket, keys in order.

Formats:
  text    LMDB's db_dump format with hex bytes (format=bytevalue), as mdb_dump
          writes it: mdb_load reads it, and folio load reads mdb_dump's.
  print   the same with printable bytes as they are (format=print).
  binary  folio's own: framed and CRC-32C-checksummed, bucket tree and
          sequences included; the fast path for backups and migrations.

A nested bucket's block is named by its path (database=a/b/c), with "\/"
for a slash and "\\" for a backslash inside a name, "\xHH" for other bytes:
the notation of --bucket. Bucket sequences (folio_sequence=N, 0 included)
and the page size (folio_pagesize=N) go in extra header keys, which
mdb_load ignores; so does the folio_dump=1 line a text dump opens with,
which makes an empty database's dump that line rather than nothing (load
refuses an empty pipe).

--zstd compresses the dump; load recognises it. With -o the dump is
written to a temporary file beside FILE and renamed into place when
complete, so a failed or interrupted dump (SIGINT, SIGTERM: exit 130, 143)
leaves nothing behind (an interrupt once FILE is in place says so). A new
FILE gets the mode "> FILE" would give it (0666 less the umask), a
replaced one keeps its mode, and a symbolic link is followed, also one to
a file yet to be made (not another user's link in a sticky directory
anyone may write, such as /tmp, which "> FILE" would not follow). An
existing FILE that is not a regular file (a FIFO, a device) is written
directly, and FILE naming standard output (/dev/stdout) is standard
output, as without -o (so ">> log" appends). Neither FILE nor standard
output may be DB, and a binary or compressed dump is not written to a
terminal (exit 2: give -o FILE or a pipe).

The database is opened read-only (shared lock), with every page checksum
verified; the file is not changed.`,
		Example: `  folio dump app.db > app.dump
  folio dump app.db --bucket users/admins --format print
  folio dump app.db --format binary --zstd -o app.fdump.zst
  mkdir lmdb-env && folio dump app.db | mdb_load lmdb-env`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			f, err := dumpfmt.ParseFormat(format)
			if err != nil {
				return usagef("--format: %v", err)
			}
			var path [][]byte
			if bucket != "" {
				if path, err = parsePath(bucket); err != nil {
					return usagef("--bucket: %v", err)
				}
			}
			// NB: /dev/stdout on a regular file (">> log") is that file:
			// renamed over, it lost what it held.
			toStdout := output == "" || output == "-" || a.isStdout(output)
			if !toStdout && sameFile(args[0], output) {
				return usagef("-o %s is the database itself", output)
			}
			if toStdout && (f == dumpfmt.Binary || compress) && isTerminal(a.stdout) {
				// zstd frames are no more for a terminal than binary ones.
				what := "a binary"
				if f != dumpfmt.Binary {
					what = "a compressed"
				}
				return usagef("not writing %s dump to a terminal: use -o FILE or a pipe", what)
			}
			db, err := a.openSource(args[0])
			if err != nil {
				return err
			}
			defer closeDB(db, &err)

			var w io.Writer = a.stdout
			var out *outFile
			if !toStdout {
				// A new FILE gets the mode "> FILE" would give it.
				if out, err = a.createOut(output, 0o666); err != nil {
					return fmt.Errorf("dump %s: %w", args[0], err)
				}
				defer out.abort()
				w = out.f
			}
			cw := &countWriter{w: w}
			start := time.Now()
			// A dump going to a terminal shows its own progress, and a
			// bar drawn on stderr, the same terminal most likely, would
			// break into its lines.
			bar := !isTerminal(w)
			st, err := dumpDB(a, db, path, cw, f, compress, bar)
			if err != nil {
				return fmt.Errorf("dump %s: %w", args[0], err)
			}
			if out == nil {
				return nil
			}
			if err := out.commit("written"); err != nil {
				return fmt.Errorf("dump %s: %w", args[0], err)
			}
			el := time.Since(start)
			z := ""
			if compress {
				z = ", zstd"
			}
			// Written straight to a FIFO or a device, which may well be
			// standard output, the dump is followed by nothing.
			sum := a.stdout
			if out.tmp == "" {
				sum = a.stderr
			}
			fmt.Fprintf(sum, "dumped %s (%v%s) to %s: %s in %v (%.1f MB/s)\n",
				keysInBuckets(st.Keys, "in", st.Buckets), f, z, output, humanBytes(cw.n), el.Round(time.Millisecond), float64(cw.n)/1e6/el.Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&bucket, "bucket", "", "dump only this bucket and the buckets under it (a/b/c)")
	cmd.Flags().StringVar(&format, "format", "text", "text, print or binary")
	cmd.Flags().BoolVar(&compress, "zstd", false, "compress the dump with zstd")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}

// dumpStats counts what a dump wrote.
type dumpStats struct{ Buckets, Keys int64 }

// dumpDB writes the dump of the bucket at path (nil: everything) to w in
// one read transaction, so the dump is one consistent snapshot; with bar
// set, a progress bar counts the keys (on a terminal: newProgress).
func dumpDB(a *app, db *folio.DB, path [][]byte, w io.Writer, f dumpfmt.Format, compress, bar bool) (dumpStats, error) {
	// mdb_load sizes its map by the dump's mapsize, or 1 MiB: ask for
	// room to spare (address space only; LMDB's file grows as it fills).
	mapSize := max(int64(1)<<30, 4*fileSize(db.Path()))
	var prog progress = noProgress{}
	if bar {
		prog = newProgress(a, 0, "dump: keys")
	}
	defer prog.Done()
	var dw *dumpfmt.Writer
	var v *progressVisitor
	err := db.View(func(tx *folio.Tx) error {
		t := folioTree{tx: tx}
		if len(path) > 0 {
			b, err := lookupBucket(tx, path)
			if err != nil {
				return err
			}
			t.b = b
		}
		// NB: the writer starts with the dump's header: made before the
		// bucket was found, a pipe's reader got the start of a dump
		// followed by nothing.
		var err error
		if dw, err = dumpfmt.NewWriter(w, f, dumpfmt.Options{PageSize: db.PageSize(), MapSize: mapSize, Zstd: compress}); err != nil {
			return err
		}
		v = &progressVisitor{v: dw, prog: prog}
		return walkTree(t, path, v)
	})
	if dw == nil {
		return dumpStats{}, err
	}
	v.flush()
	if err != nil {
		// Written to standard output or a FIFO, part of the data must
		// not read as a complete dump.
		dw.Abort()
		return dumpStats{dw.Buckets, dw.Keys}, err
	}
	err = dw.Close()
	return dumpStats{dw.Buckets, dw.Keys}, err
}

// tree is a read-only bucket tree as dump, compact and migrate walk it:
// folio's (folioTree) or bbolt's (boltTree, migrate.go).
type tree interface {
	// each calls fn for every entry in key order; nested entries are
	// buckets (v is nil). k and v are valid only during the call.
	each(fn func(k, v []byte, nested bool) error) error
	// child opens the nested bucket name.
	child(name []byte) (tree, error)
	sequence() uint64
}

// folioTree is a folio bucket, or with b nil the top level.
type folioTree struct {
	tx *folio.Tx
	b  *folio.Bucket
}

func (t folioTree) each(fn func(k, v []byte, nested bool) error) error {
	var c *folio.Cursor
	if t.b == nil {
		c = t.tx.Cursor()
	} else {
		c = t.b.Cursor()
	}
	// NB: the cursor gives a nested bucket a nil value and an empty value
	// a non-nil empty slice, so v == nil is exact here.
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v, v == nil); err != nil {
			return err
		}
	}
	// A cursor meeting a damaged page stops as at the end; the
	// transaction remembers why.
	return t.tx.Err()
}

func (t folioTree) child(name []byte) (tree, error) {
	var b *folio.Bucket
	if t.b == nil {
		b = t.tx.Bucket(name)
	} else {
		b = t.b.Bucket(name)
	}
	if b == nil {
		if err := t.tx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("nested bucket %s: %w", quoteKey(name), folio.ErrBucketNotFound)
	}
	return folioTree{tx: t.tx, b: b}, nil
}

func (t folioTree) sequence() uint64 {
	if t.b == nil {
		return 0
	}
	return t.b.Sequence()
}

// walkTree gives v the tree in dump order: a bucket's block (when path is
// not empty: the top level has none), its own pairs, then each nested
// bucket in name order, recursively.
func walkTree(t tree, path [][]byte, v dumpfmt.Visitor) error {
	if len(path) > 0 {
		if err := v.BeginBucket(dumpfmt.Bucket{Path: path, Sequence: t.sequence(), HasSequence: true}); err != nil {
			return err
		}
	}
	// Nested buckets wait until the pairs are out: a block holds one
	// bucket's pairs only. Their names are copied, as the cursor's keys
	// are valid only while it stays put.
	var nested [][]byte
	err := t.each(func(k, val []byte, isBucket bool) error {
		if isBucket {
			nested = append(nested, bytes.Clone(k))
			return nil
		}
		return v.Put(k, val)
	})
	if err != nil {
		return err
	}
	for _, name := range nested {
		c, err := t.child(name)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", quotePath(path), err)
		}
		if err := walkTree(c, append(path[:len(path):len(path)], name), v); err != nil {
			return err
		}
	}
	return nil
}

// progressVisitor passes items on and counts pairs on a progress bar, a
// thousand at a time so the bar costs nothing per key.
type progressVisitor struct {
	v    dumpfmt.Visitor
	prog progress
	n    int64
}

func (p *progressVisitor) BeginBucket(b dumpfmt.Bucket) error { return p.v.BeginBucket(b) }

func (p *progressVisitor) Put(k, v []byte) error {
	if p.n++; p.n == 1000 {
		p.prog.Add(p.n)
		p.n = 0
	}
	return p.v.Put(k, v)
}

func (p *progressVisitor) flush() {
	p.prog.Add(p.n)
	p.n = 0
}

// openSource opens a database read-only (shared lock) for a command that
// copies its data out (dump, compact), with every page's checksum
// recomputed as it is read (DESIGN.md: dump and compact always verify).
func (a *app) openSource(path string) (*folio.DB, error) {
	return a.openDBWith(path, folio.Options{ReadOnly: true, VerifyChecksums: true})
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
