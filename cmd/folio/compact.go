package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/cmd/folio/internal/dumpfmt"
	"github.com/foliodb/folio/wal"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newCompactCmd) }

func newCompactCmd(a *app) *cobra.Command {
	var (
		pageSize int
		fill     float64
	)
	cmd := &cobra.Command{
		Use:   "compact SRC DST [--page-size N] [--fill F]",
		Short: "Copy a database's live data into a new, tightly packed file",
		Long: `Compact copies every bucket, key and sequence of SRC into a new database
DST: keys go in in order and every bucket packs its pages full, so DST
holds no free pages and no half-empty ones. DST keeps SRC's page size
unless --page-size says otherwise. --fill F (0.1 to 1, default 1) packs
each page only that full instead: a bucket that will take inserts between
its keys then splits no page for them until its pages fill up (with full
pages each such insert splits one), at the price of a file about 1/F
times as large.

DST is built under a temporary name beside it and verified before it is
moved into place: a full check, the key count of every bucket and a
SHA-256 over all buckets, sequences, keys and values, compared with SRC.
The sizes before and after are printed. A failed or interrupted compact
(SIGINT, SIGTERM: exit 130, 143) leaves neither the temporary file nor DST
(an interrupt once the verified DST is in place leaves it, and says so).
DST must not exist, and a DST made by something else while the copy was
built is left alone: compact then fails.

SRC is opened read-only (shared lock) and read in one transaction, so other
programs may go on reading it. A writer in another process holds an
exclusive lock: compact then fails within --timeout, saying so.

A database in WAL mode compacts into a plain database: DST holds every
commit and needs no log (DST.wal must not exist), and SRC's log, the
directory SRC.wal, is read but never changed. A program that closed SRC
cleanly left every commit in the file (Close checkpoints). After a crash
the log may hold commits the file does not; compact then fails, saying
so: run "folio checkpoint SRC" first. Opening DST in WAL mode later gives
it a log of its own.`,
		Example: `  folio compact app.db app.compact.db && mv app.compact.db app.db
  folio compact --page-size 16384 app.db app.16k.db
  folio compact --fill 0.7 app.db app.roomy.db   # room for random inserts
  folio checkpoint app.db && folio compact app.db app.compact.db   # after a WAL-mode crash`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if err := checkPageSizeFlag(pageSize); err != nil {
				return err
			}
			if err := checkFillFlag(fill); err != nil {
				return err
			}
			src, dst := args[0], args[1]
			if err := notDash("compact", "DST", dst); err != nil {
				return err
			}
			if err := notSource(src, dst); err != nil {
				return err
			}
			if err := newFile("compact", dst); err != nil {
				return err
			}
			if err := noLogBeside(dst); err != nil {
				return fmt.Errorf("compact: %w", err)
			}
			db, err := a.openSource(src)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			if pageSize == 0 {
				pageSize = db.PageSize()
			}
			var res copyResult
			err = db.View(func(tx *folio.Tx) error {
				res, err = copyTree(a, folioTree{tx: tx}, dst, srcPerm(src), pageSize, fill, "compact")
				return err
			})
			if err != nil {
				return fmt.Errorf("compact %s: %w", src, err)
			}
			before := fileSize(src)
			fmt.Fprintf(a.stdout, "compacted %s (%s) into %s (%s, %.1f%%) in %v: %s, page size %d\n",
				src, humanBytes(before), dst, humanBytes(res.size), 100*float64(res.size)/float64(max(before, 1)),
				res.elapsed.Round(time.Millisecond), keysInBuckets(res.keys, "in", res.buckets), pageSize)
			fmt.Fprintf(a.stdout, "verified: check ok, key counts equal, sha256 %s\n", res.digest)
			return nil
		},
	}
	cmd.Flags().IntVar(&pageSize, "page-size", 0, "page size of the new file (default: the source's)")
	addFillFlag(cmd, &fill)
	return cmd
}

// addFillFlag adds --fill: how full a copy or load packs each page.
func addFillFlag(cmd *cobra.Command, fill *float64) {
	cmd.Flags().Float64Var(fill, "fill", 1, "how full to pack each page, 0.1 to 1: below 1 leaves room for inserts between the keys")
}

// checkFillFlag accepts a fill folio can use (Bucket.FillPercent).
func checkFillFlag(f float64) error {
	if !(f >= 0.1 && f <= 1) { // NaN fails too
		return usagef("--fill %v: want a fraction from 0.1 to 1", f)
	}
	return nil
}

// checkPageSizeFlag accepts 0 (keep) or a page size folio can use.
func checkPageSizeFlag(n int) error {
	if n != 0 && (n < 1024 || n > 65536 || n&(n-1) != 0) {
		return usagef("--page-size %d: want a power of two from 1024 to 65536", n)
	}
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Copy transactions are bounded: the write transaction holds its dirty
// pages in memory until it commits.
var (
	copyTxKeys  = 200_000
	copyTxBytes = 64 << 20
)

type copyResult struct {
	keys, buckets int64
	size          int64 // of the new file
	digest        string
	elapsed       time.Duration
}

// copyTree copies src into a new database at dst (compact, migrate):
// built as a temporary file beside dst, with keys in order and pages
// packed full, then checked and compared with src (key counts per bucket
// and a digest of everything) and put into place (placeNew: never over
// a file made at dst meanwhile). src must stay
// unchanged meanwhile (one read transaction). A failure or an interrupt
// leaves neither the temporary file nor dst.
//
// The new file gets perm less the umask: the source's mode, as cp gives
// a copy (srcPerm), so a copy is as private as what it copies.
func copyTree(a *app, src tree, dst string, perm os.FileMode, pageSize int, fill float64, what string) (res copyResult, err error) {
	start := time.Now()
	if err := noLogBeside(dst); err != nil {
		return res, err
	}
	tmp := fmt.Sprintf("%s.%s-%x", dst, what, rand.Uint32())
	// The copy is built with its owner's read and write bits, which a
	// read-only source's mode (0444) lacks: the library reopens the file
	// it creates for writing, and the check reads it. They are taken off
	// again before the copy is put in place (finalPerm).
	var db *folio.DB
	cl, err := a.cleanups.track(func() (func(), error) {
		var err error
		db, err = folio.Open(tmp, perm|0o600, &folio.Options{PageSize: pageSize, NoSync: true})
		return func() { _ = os.Remove(tmp) }, err
	})
	defer func() {
		if err != nil {
			_ = cl.done(func() error {
				_ = os.Remove(tmp)
				return nil
			})
		}
	}()
	if err != nil {
		return res, createError(dst, err)
	}
	prog := newProgress(a, 0, what+": keys")
	c := &copier{db: db, prog: prog, fill: fill}
	err = c.run(src)
	prog.Done()
	var high int64
	if err == nil {
		// NoSync above: one sync for the whole copy, before the rename.
		err = db.Sync()
	}
	if err == nil {
		var in folio.Info
		in, err = db.Info()
		high = int64(in.HighPage) * int64(in.PageSize)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	var se srcError
	if errors.As(err, &se) {
		// The source's own error names it; "copy into" would blame the
		// copy.
		return res, se.err
	}
	if err != nil {
		// Named after dst: tmp is no name the user gave.
		return res, fmt.Errorf("copy into %s: %w", dst, err)
	}
	// The file grows in large steps; give back the tail past the last
	// page in use.
	if err := truncateSync(tmp, high); err != nil {
		return res, err
	}

	srcDigest := dumpfmt.NewDigest()
	if err := walkTree(src, nil, srcDigest); err != nil {
		return res, fmt.Errorf("verify: read the source: %w", err)
	}
	dstDigest, err := verifyCopy(tmp)
	if err != nil {
		return res, err
	}
	if err := sameDigest(srcDigest, dstDigest); err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	if err := finalPerm(tmp, perm); err != nil {
		return res, err
	}
	if err := cl.place(func() error { return placeNew(tmp, dst) }, dst, dst+" was made and verified before it"); err != nil {
		return res, err
	}
	if err := wal.SyncDir(filepath.Dir(dst)); err != nil {
		return res, err
	}
	return copyResult{keys: c.keys, buckets: c.buckets, size: fileSize(dst), digest: dstDigest.Sum(),
		elapsed: time.Since(start)}, nil
}

// srcPerm is the permission bits of the file at path, or 0600 if it
// cannot be read (the mode a copy gets falls back to owner-only).
func srcPerm(path string) os.FileMode {
	fi, err := os.Stat(path)
	if err != nil {
		return 0o600
	}
	return fi.Mode().Perm()
}

// finalPerm takes off the file at path the owner's read and write bits
// it was made with beyond perm (copyTree), leaving what perm less the
// umask gives.
func finalPerm(path string, perm os.FileMode) error {
	extra := 0o600 &^ perm.Perm()
	if extra == 0 {
		return nil
	}
	fi, err := os.Stat(path)
	if err == nil {
		err = os.Chmod(path, fi.Mode().Perm()&^extra)
	}
	if err != nil {
		return fmt.Errorf("set the mode of %s: %w", path, err)
	}
	return nil
}

// placeNew puts the finished file tmp at path, which must not exist. The
// caller's check that it did not was made before the copy, which can take
// minutes, and a file made at path since (a second compact into the same
// name, a program creating its database there) is not this command's to
// replace: tmp is linked at path, which fails if path exists, never
// renamed over it (as folio.Open places a new database). Where the file
// system has no hard links, path is claimed by creating it exclusively
// and the claim then replaced. tmp is gone when placeNew succeeds.
func placeNew(tmp, path string) error {
	err := os.Link(tmp, path)
	if err != nil && !errors.Is(err, os.ErrExist) {
		// No hard links here (vfat, some FUSE).
		var f *os.File
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			err = f.Close()
			if err == nil {
				err = os.Rename(tmp, path)
			}
			if err != nil {
				_ = os.Remove(path) // the claim
			}
			return err
		}
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s %w (it was made while the copy was built)", path, errExists)
	}
	if err != nil {
		return err
	}
	return os.Remove(tmp)
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && size > 0 && fi.Size() > size {
		err = f.Truncate(size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("trim %s: %w", path, err)
	}
	return nil
}

// verifyCopy opens a finished copy read-only, checks it and digests it.
func verifyCopy(path string) (*dumpfmt.Digest, error) {
	db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true, VerifyChecksums: true})
	if err != nil {
		return nil, fmt.Errorf("verify: open the copy: %w", err)
	}
	defer db.Close()
	res, err := checkDB(db, path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if !res.OK {
		return nil, copyProblems(res, path)
	}
	d := dumpfmt.NewDigest()
	if err := db.View(func(tx *folio.Tx) error { return walkTree(folioTree{tx: tx}, nil, d) }); err != nil {
		return nil, fmt.Errorf("verify: read the copy: %w", err)
	}
	return d, nil
}

// copyProblems is the error of a copy at path whose check found
// problems: how many, and the first with its page, without the copy's
// temporary name, which the user never gave and which is removed (the
// library's "check PATH: corrupt page N: " named it).
func copyProblems(res checkJSON, path string) error {
	p, n := res.Problems[0], len(res.Problems)
	where := ""
	if p.Page != nil {
		where = fmt.Sprintf("page %d: ", *p.Page)
	}
	return fmt.Errorf("verify: the copy has %d %s, the first: %s%s", n, plural(n, "problem", "problems"), where, p.text(path))
}

// sameDigest says how a copy differs from its source, if it does.
func sameDigest(src, dst *dumpfmt.Digest) error {
	names := make([]string, 0, len(src.Counts))
	for name := range src.Counts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n, ok := dst.Counts[name]
		if !ok {
			return fmt.Errorf("bucket %q is missing from the copy", name)
		}
		if n != src.Counts[name] {
			return fmt.Errorf("bucket %q has %d keys in the copy, %d in the source", name, n, src.Counts[name])
		}
	}
	if len(dst.Counts) != len(src.Counts) {
		return fmt.Errorf("the copy has %d buckets, the source %d", len(dst.Counts), len(src.Counts))
	}
	if src.Sum() != dst.Sum() {
		return errors.New("the copy's content hash differs from the source's (same key counts: a value or a sequence differs)")
	}
	return nil
}

// copier writes a tree into a new database in key order, every bucket
// packing its pages to fill (full by default), in bounded transactions.
//
// Keys and nested buckets go in as the source walks them, interleaved in
// key order, so even a bucket's entries that name nested buckets append
// at its right edge: we rejected copying a bucket's own keys first and
// its nested buckets after (the dump order), as those late inserts would
// land inside full pages and split them half empty.
type copier struct {
	db   *folio.DB
	tx   *folio.Tx
	prog progress
	fill float64 // FillPercent and AppendFillPercent of every bucket

	path  [][]byte        // names of the buckets open, from the top
	stack []*folio.Bucket // those buckets in tx

	txKeys, txBytes int
	keys, buckets   int64
	shown           int64
}

func (c *copier) run(src tree) (err error) {
	if c.tx, err = c.db.Begin(true); err != nil {
		return err
	}
	defer func() {
		if c.tx != nil {
			_ = c.tx.Rollback()
		}
	}()
	if err := c.copy(src); err != nil {
		return err
	}
	c.prog.Add(c.keys - c.shown)
	err = c.tx.Commit()
	c.tx = nil
	return err
}

// srcError marks an error reading the tree being copied (a damaged page
// of the source), as against one writing the copy.
type srcError struct{ err error }

func (e srcError) Error() string { return e.err.Error() }
func (e srcError) Unwrap() error { return e.err }

func (c *copier) copy(t tree) error {
	var fnErr error // the callback's, marked already if the source's
	err := t.each(func(k, v []byte, nested bool) error {
		fnErr = c.entry(t, k, v, nested)
		return fnErr
	})
	if err != nil && err != fnErr {
		return srcError{err}
	}
	return err
}

// entry copies one entry of t: a pair, or a nested bucket and all in it.
func (c *copier) entry(t tree, k, v []byte, nested bool) error {
	if !nested {
		return c.put(k, v)
	}
	child, err := t.child(k)
	if err != nil {
		return srcError{err}
	}
	if err := c.enter(k, child.sequence()); err != nil {
		return err
	}
	if err := c.copy(child); err != nil {
		return err
	}
	c.path, c.stack = c.path[:len(c.path)-1], c.stack[:len(c.stack)-1]
	return nil
}

func (c *copier) enter(name []byte, seq uint64) error {
	var b *folio.Bucket
	var err error
	if n := len(c.stack); n == 0 {
		b, err = c.tx.CreateBucket(name)
	} else {
		b, err = c.stack[n-1].CreateBucket(name)
	}
	c.path = append(c.path, append([]byte(nil), name...))
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", quotePath(c.path), err)
	}
	b.FillPercent, b.AppendFillPercent = c.fill, c.fill
	if seq != 0 {
		if err := b.SetSequence(seq); err != nil {
			return fmt.Errorf("bucket %s: set sequence: %w", quotePath(c.path), err)
		}
	}
	c.stack = append(c.stack, b)
	c.buckets++
	return c.account(len(name))
}

func (c *copier) put(k, v []byte) error {
	if err := c.stack[len(c.stack)-1].Put(k, v); err != nil {
		return fmt.Errorf("bucket %s: put %s: %w", quotePath(c.path), quoteKey(k), err)
	}
	c.keys++
	if c.keys-c.shown >= 1000 {
		c.prog.Add(c.keys - c.shown)
		c.shown = c.keys
	}
	return c.account(len(k) + len(v))
}

// account counts what the transaction holds and commits it when it
// holds enough, reopening the buckets on the path in the next one.
func (c *copier) account(n int) error {
	c.txKeys++
	c.txBytes += n
	if c.txKeys < copyTxKeys && c.txBytes < copyTxBytes {
		return nil
	}
	c.txKeys, c.txBytes = 0, 0
	err := c.tx.Commit()
	c.tx = nil
	if err != nil {
		return err
	}
	if c.tx, err = c.db.Begin(true); err != nil {
		return err
	}
	for i, name := range c.path {
		var b *folio.Bucket
		if i == 0 {
			b = c.tx.Bucket(name)
		} else {
			b = c.stack[i-1].Bucket(name)
		}
		if b == nil {
			return fmt.Errorf("bucket %s vanished between copy transactions", quotePath(c.path[:i+1]))
		}
		b.FillPercent, b.AppendFillPercent = c.fill, c.fill
		c.stack[i] = b
	}
	return nil
}
