package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func init() { commands = append(commands, newMigrateCmd) }

func newMigrateCmd(a *app) *cobra.Command {
	var (
		from     string
		pageSize int
		fill     float64
	)
	cmd := &cobra.Command{
		Use:   "migrate --from bbolt SRC DST [--page-size N] [--fill F]",
		Short: "Convert a bbolt database into a new folio database",
		Long: `Migrate reads a bbolt database with go.etcd.io/bbolt itself, read-only and
in one transaction, and writes its buckets (nested ones too), keys, values
and bucket sequences into a new folio database DST, packed as compact packs
them (--fill as compact's). DST keeps bbolt's page size unless --page-size
says otherwise.

DST is built under a temporary name beside it and verified before it is
moved into place: a full check, the key count of every bucket and a
SHA-256 over all buckets, sequences, keys and values, compared with what
bbolt read. A failed or interrupted migrate (SIGINT, SIGTERM: exit 130,
143) leaves neither the temporary file nor DST (an interrupt once the
verified DST is in place leaves it, and says so). DST must not exist, and
a DST made by something else while the copy was built is left alone:
migrate then fails.

LMDB databases migrate through a dump instead:
  mdb_dump -a lmdb-env/ | folio load app.db`,
		Example: `  folio migrate --from bbolt old.bolt app.db`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if from == "" {
				return usagef("--from is required: --from bbolt")
			}
			if from != "bbolt" {
				return usagef("--from %q: folio migrates from bbolt (LMDB: mdb_dump -a ENV | folio load DB)", from)
			}
			if err := checkPageSizeFlag(pageSize); err != nil {
				return err
			}
			if err := checkFillFlag(fill); err != nil {
				return err
			}
			src, dst := args[0], args[1]
			if err := notDash("migrate", "DST", dst); err != nil {
				return err
			}
			if err := notSource(src, dst); err != nil {
				return err
			}
			if err := newFile("migrate", dst); err != nil {
				return err
			}
			bdb, err := a.openBolt(src)
			if err != nil {
				return err
			}
			defer func() {
				if cerr := bdb.Close(); err == nil && cerr != nil {
					err = fmt.Errorf("close %s: %w", src, cerr)
				}
			}()
			if pageSize == 0 {
				if ps := bdb.Info().PageSize; checkPageSizeFlag(ps) == nil {
					pageSize = ps
				}
			}
			// bbolt trusts its pages: a damaged one makes it panic, or
			// read outside its mapping, which SetPanicOnFault turns into
			// a panic too; boltTree recovers either as an error, so
			// copyTree removes its temporary file.
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			var res copyResult
			err = bdb.View(func(tx *bolt.Tx) error {
				if err := checkBoltPages(tx, src); err != nil {
					return err
				}
				res, err = copyTree(a, boltTree{tx: tx, path: src}, dst, srcPerm(src), pageSize, fill, "migrate")
				return err
			})
			if err != nil {
				return fmt.Errorf("migrate %s: %w", src, err)
			}
			fmt.Fprintf(a.stdout, "migrated %s (bbolt, %s) into %s (folio, %s) in %v: %s\n",
				src, humanBytes(fileSize(src)), dst, humanBytes(res.size), res.elapsed.Round(time.Millisecond), keysInBuckets(res.keys, "in", res.buckets))
			fmt.Fprintf(a.stdout, "verified: check ok, key counts equal, sha256 %s\n", res.digest)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the source's format: bbolt")
	cmd.Flags().IntVar(&pageSize, "page-size", 0, "page size of the new file (default: the source's)")
	addFillFlag(cmd, &fill)
	return cmd
}

// openBolt opens a bbolt database read-only (shared lock).
func (a *app) openBolt(path string) (*bolt.DB, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, noSuchFile(path)
	}
	if err != nil {
		return nil, notReached(path, err)
	}
	if fi.IsDir() {
		// bbolt would call it "invalid database".
		return nil, fmt.Errorf("%s is a directory, not a database file", path)
	}
	if fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, pathErrorf(path, "not a bbolt database (the file is empty)")
	}
	if err := a.notStdout(path, fi); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: a.timeout})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, lockTimeout(path, a.timeout, err)
	case errors.Is(err, bolterrors.ErrInvalid) && isFolioFile(path):
		return nil, pathErrorf(path, "not a bbolt database: a folio one already, nothing to migrate (\"folio compact\" copies it)")
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, pathErrorf(path, "not a bbolt database: %w", err)
	case err != nil:
		if pe, ok := err.(*fs.PathError); ok && pe.Path == path {
			err = pe.Err // "open X with bbolt: open X: ..." said X twice
		}
		return nil, fmt.Errorf("open %s with bbolt: %w", path, err)
	}
	return db, nil
}

// isFolioFile reports whether the file at path begins as a folio
// database does (isDatabaseFile).
func isFolioFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return isDatabaseFile(bufio.NewReader(f))
}

// boltTree is a bbolt bucket, or with b nil the top level, of the bbolt
// file at path.
type boltTree struct {
	tx   *bolt.Tx
	b    *bolt.Bucket
	path string
}

// damaged turns a panic raised by bbolt, reading a damaged page, into an
// error (the caller runs under debug.SetPanicOnFault, so a read outside
// the mapping is such a panic too). In the callback (inFn) only a memory
// fault is recovered: it is the callback reading a key or value that
// bbolt sliced outside its mapping; any other panic there is a bug in
// folio, not damage, and goes on.
func (t boltTree) damaged(err *error, inFn *bool) {
	r := recover()
	if r == nil {
		return
	}
	if _, fault := r.(interface{ Addr() uintptr }); *inFn && !fault {
		panic(r)
	}
	*err = fmt.Errorf("bbolt file %s is damaged: reading it panicked: %v", t.path, r)
}

func (t boltTree) each(fn func(k, v []byte, nested bool) error) (err error) {
	inFn := false
	defer t.damaged(&err, &inFn)
	call := func(k, v []byte, nested bool) error {
		inFn = true
		err := fn(k, v, nested)
		inFn = false
		return err
	}
	if t.b == nil {
		return t.tx.ForEach(func(name []byte, _ *bolt.Bucket) error { return call(name, nil, true) })
	}
	c := t.b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		// NB: bbolt gives a nested bucket a nil value; ask the bucket
		// rather than trust that an empty value is never nil.
		nested := v == nil && t.b.Bucket(k) != nil
		if err := call(k, v, nested); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTree) child(name []byte) (_ tree, err error) {
	inFn := false
	defer t.damaged(&err, &inFn)
	var b *bolt.Bucket
	if t.b == nil {
		b = t.tx.Bucket(name)
	} else {
		b = t.b.Bucket(name)
	}
	if b == nil {
		return nil, fmt.Errorf("nested bucket %s vanished", quoteKey(name))
	}
	return boltTree{tx: t.tx, b: b, path: t.path}, nil
}

func (t boltTree) sequence() uint64 {
	if t.b == nil {
		return 0
	}
	return t.b.Sequence()
}

// checkBoltPages walks the page tree of every bucket of the bbolt file at
// path, as tx sees it, reading each page once from the file: a page id
// outside the file, a page that is not where its id says, one that is
// neither branch nor leaf, or one reached twice (a cycle, two parents)
// is damage. NB: bbolt follows page ids unchecked, and a branch page
// naming itself sends its cursor down for ever, allocating until the
// process dies, with no panic for boltTree.damaged to turn into an error.
// The walk looks inside inline buckets too (boltLeafRoots): they have no
// page, but a bucket nested in one may.
//
// Keys are damage out of order within a page, and outside the range the
// branch above gives a page: from its key for the page up to, not
// including, its next key (or the range the branch itself was given).
// bbolt writes a branch's key for a child as the child's first key.
// NB: its cursor walks the leaves whatever the branches say, but Get
// looks a key up through them, so such a file migrated, or failed the
// copy's verification, blaming the new file (TestMigrateBoltBranchOrder).
func checkBoltPages(tx *bolt.Tx, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	ps := uint64(tx.DB().Info().PageSize)
	high := uint64(tx.Size()) / ps
	le16, le32, le64 := binary.LittleEndian.Uint16, binary.LittleEndian.Uint32, binary.LittleEndian.Uint64
	damaged := func(id uint64, what string) error {
		return fmt.Errorf("bbolt file %s is damaged: page %d: %s", path, id, what)
	}
	// boltPage is a page to visit and the keys it may hold: [lo, hi),
	// nil for no bound (a bucket's root), each a copy of the key of
	// element loElem or hiElem of the branch page loPage or hiPage.
	type boltPage struct {
		id             uint64
		lo, hi         []byte
		loPage, hiPage uint64
		loElem, hiElem uint64
	}
	inRange := func(v boltPage, first, last []byte) error {
		if v.lo != nil && bytes.Compare(first, v.lo) < 0 {
			return damaged(v.id, fmt.Sprintf("keys below the key page %d has for it (element %d)", v.loPage, v.loElem))
		}
		if v.hi != nil && bytes.Compare(last, v.hi) >= 0 {
			return damaged(v.id, fmt.Sprintf("keys at or past the next key page %d has (element %d)", v.hiPage, v.hiElem))
		}
		return nil
	}
	seen := map[uint64]bool{}
	buf := make([]byte, ps) // one page, or the longest run read so far
	stack := []boltPage{{id: uint64(tx.Cursor().Bucket().Root())}}
	var roots []uint64
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		id := v.id
		if id < 2 || id >= high {
			return damaged(id, fmt.Sprintf("outside the file's %d pages", high))
		}
		if seen[id] {
			return damaged(id, "reached twice (a loop in the tree?)")
		}
		seen[id] = true
		p := buf[:ps]
		if _, err := f.ReadAt(p, int64(id*ps)); err != nil {
			return damaged(id, err.Error())
		}
		if over := uint64(le32(p[12:])); over > 0 {
			if over >= high-id {
				return damaged(id, "overflow past the end of the file")
			}
			if n := (over + 1) * ps; uint64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			p = buf[:(over+1)*ps]
			if _, err := f.ReadAt(p, int64(id*ps)); err != nil {
				return damaged(id, err.Error())
			}
		}
		if le64(p) != id {
			return damaged(id, fmt.Sprintf("its header names page %d", le64(p)))
		}
		flags, count := le16(p[8:]), uint64(le16(p[10:]))
		if 16+count*16 > uint64(len(p)) {
			return damaged(id, "elements past the page")
		}
		switch flags {
		case 0x01: // branch: pos, ksize (4 bytes each), page id
			if count == 0 {
				// NB: bbolt's cursor reads a first child from an empty
				// branch all the same, from whatever bytes follow the
				// header; bbolt never writes one.
				return damaged(id, "a branch page with no elements")
			}
			keys, what := boltBranchKeys(p)
			if what != "" {
				return damaged(id, what)
			}
			if err := inRange(v, keys[0], keys[count-1]); err != nil {
				return err
			}
			for i := range count {
				c := boltPage{id: le64(p[16+i*16+8:]), lo: bytes.Clone(keys[i]), loPage: id, loElem: i,
					hi: v.hi, hiPage: v.hiPage, hiElem: v.hiElem}
				if i+1 < count {
					c.hi, c.hiPage, c.hiElem = bytes.Clone(keys[i+1]), id, i+1
				}
				stack = append(stack, c)
			}
		case 0x02:
			var what string
			if roots, what = boltLeafRoots(p, roots[:0]); what != "" {
				return damaged(id, what)
			}
			if count > 0 {
				if err := inRange(v, boltLeafKey(p, 0), boltLeafKey(p, count-1)); err != nil {
					return err
				}
			}
			for _, r := range roots {
				stack = append(stack, boltPage{id: r})
			}
		default:
			return damaged(id, fmt.Sprintf("flags %#x: not a branch or leaf page", flags))
		}
	}
	return nil
}

// boltBranchKeys returns the keys of the bbolt branch page p, in place,
// or what says how p is damaged: a key past the page or over another's
// (bbolt writes them after the elements, in their order), or keys not in
// strictly increasing order. REQUIRES: p holds its elements.
func boltBranchKeys(p []byte) (keys [][]byte, what string) {
	le16, le32 := binary.LittleEndian.Uint16, binary.LittleEndian.Uint32
	count := uint64(le16(p[10:]))
	data := 16 + count*16
	keys = make([][]byte, count)
	for i := range count {
		e := p[16+i*16:]
		start := 16 + i*16 + uint64(le32(e))
		end := start + uint64(le32(e[4:]))
		if start < data || end > uint64(len(p)) {
			return nil, fmt.Sprintf("element %d's key overlaps another's, or lies past the page", i)
		}
		data = end
		keys[i] = p[start:end]
		if i > 0 && bytes.Compare(keys[i-1], keys[i]) >= 0 {
			return nil, fmt.Sprintf("element %d: keys out of order", i)
		}
	}
	return keys, ""
}

// boltLeafKey is the key of element i of the bbolt leaf page p, in
// place. REQUIRES: boltLeafRoots found p sound.
func boltLeafKey(p []byte, i uint64) []byte {
	le32 := binary.LittleEndian.Uint32
	e := p[16+i*16:]
	start := 16 + i*16 + uint64(le32(e[4:]))
	return p[start : start+uint64(le32(e[8:]))]
}

// boltLeafRoots appends to roots the root page of every bucket in the
// bbolt leaf page p (a page of the file or an inline bucket's page),
// looking into inline buckets (root 0: their page follows the bucket
// header in the value) for buckets nested in them; what says how p is
// damaged, if it is. Inline pages nest only as deep as the bytes of p
// allow (each takes 32 bytes at least), so the recursion ends.
func boltLeafRoots(p []byte, roots []uint64) (_ []uint64, what string) {
	le16, le32, le64 := binary.LittleEndian.Uint16, binary.LittleEndian.Uint32, binary.LittleEndian.Uint64
	count := uint64(le16(p[10:]))
	// NB: bbolt writes the keys and values after the elements, in their
	// order. Elements whose values overlap (two buckets sharing one
	// inline page, each level holding two) made 2^n walks of n levels
	// in a few KiB, and migrate never ended.
	data := 16 + count*16
	var prev []byte
	for i := range count {
		// A leaf element: flags, pos, ksize, vsize (4 bytes each).
		e := p[16+i*16:]
		start := 16 + i*16 + uint64(le32(e[4:]))
		v := start + uint64(le32(e[8:]))
		n := uint64(le32(e[12:]))
		if start < data || v+n > uint64(len(p)) {
			return roots, fmt.Sprintf("element %d's key and value overlap another's, or lie past the page", i)
		}
		data = v + n
		// NB: bbolt writes no empty key and keeps a page's keys sorted
		// and unique; otherwise the copy's Put or CreateBucket refused
		// them and migrate blamed the new file ("copy into").
		k := p[start:v]
		if len(k) == 0 {
			return roots, fmt.Sprintf("element %d: an empty key", i)
		}
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return roots, fmt.Sprintf("element %d: keys out of order", i)
		}
		prev = k
		if le32(e)&0x01 == 0 {
			continue // a pair, not a bucket
		}
		if n < 16 {
			return roots, "a bucket's value past the page"
		}
		if root := le64(p[v:]); root != 0 {
			roots = append(roots, root)
			continue
		}
		inline := p[v+16 : v+n]
		if len(inline) < 16 || le16(inline[8:]) != 0x02 || 16+uint64(le16(inline[10:]))*16 > uint64(len(inline)) {
			return roots, "an inline bucket that is not a leaf page inside its value"
		}
		if roots, what = boltLeafRoots(inline, roots); what != "" {
			return roots, what
		}
	}
	return roots, ""
}
