package tx

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
)

// Bucket is a collection of keys and values, and of nested buckets, inside
// a transaction. It is valid until the transaction ends, or until it (or
// a bucket above it) is deleted: then reads find nothing, writes return
// ErrBucketNotFound and its cursors return nil. A bucket moved keeps its
// handle, which follows it.
//
// The nil *Bucket that Tx.Bucket and Bucket.Bucket return for a missing
// name reads as an empty bucket too (Get, Bucket, Cursor), and its writes
// and ForEach return ErrBucketNotFound: bbolt's panic with a nil pointer.
//
// Every write (Put, Delete, CreateBucket, CreateBucketIfNotExists,
// DeleteBucket, MoveBucket, SetSequence, NextSequence, Cursor.Delete)
// returns ErrTxNotWritable in a read transaction, ErrTxClosed once the
// transaction has ended, ErrBucketNotFound on a nil or deleted bucket,
// and, once the transaction has met a damaged page, that ErrCorrupt
// error. The top level (Tx.Cursor().Bucket()) holds only buckets: Put,
// Delete, SetSequence and NextSequence there return ErrIncompatibleValue.
// A refused write changes nothing; its error names the key and the
// bucket, so test it with errors.Is.
type Bucket struct {
	// FillPercent is how full a split leaves a page (0.1 to 1.0, a value
	// outside taken as the nearest bound, NaN as the default): 0.5 by
	// default. A leaf that overflows between its keys first shares the
	// split with a neighbour, cutting the two into equal parts at most
	// 0.9 full (btree/share.go); FillPercent applies where the two do not
	// fit in three such parts.
	FillPercent float64
	// AppendFillPercent is how full a split leaves a page whose inserts
	// in this transaction all went after its last key (a load in key
	// order): 1.0 by default, full pages. Lower it (to FillPercent, say)
	// to leave room in a bulk-loaded bucket that later takes inserts
	// between its keys: each such insert into a full page splits it.
	// Bounded as FillPercent, but 0 is the default too, not 0.1.
	AppendFillPercent float64

	tx     *Tx
	parent *Bucket // nil for the bucket directory
	name   string
	tree   btree.Tree
	orig   page.BucketHeader // the header this bucket was opened with
	// origLeaf is the inline leaf the bucket was opened with (or last
	// spilled to), from page origFrom: spill puts the header again only
	// when the tree is another one.
	origLeaf []byte
	origFrom page.ID
	seq      uint64
	children bucketSet // nested buckets opened in this transaction
	deleted  bool
	// moved: MoveBucket put the header into the new parent as it stood
	// then; spill puts it again. (Not a marker in orig: Stats reads the
	// committed tree orig names.)
	moved bool
}

// init opens a bucket whose header is h; leaf is an inline bucket's leaf
// (h.Inline), read from page from.
func (b *Bucket) init(tx *Tx, parent *Bucket, name []byte, h page.BucketHeader, leaf []byte, from page.ID) {
	b.FillPercent = btree.DefaultFill
	b.AppendFillPercent = btree.DefaultAppendFill
	b.tx, b.parent, b.orig, b.seq = tx, parent, h, h.Sequence
	b.origLeaf, b.origFrom = leaf, from
	if b.name != string(name) { // a reused bucket often had this name: no allocation
		b.name = string(name)
	}
	if h.Inline {
		b.tree.ResetInline(tx.pages(), leaf, from)
	} else {
		b.tree.Reset(tx.pages(), h.Root, h.RootSum)
	}
	// The directory's header is the meta's root, which holds no leaf.
	b.tree.Inlinable = parent != nil
	if tx.writable {
		b.tree.ShareSlab(&tx.slab)
	} else {
		b.tree.ShareSlab(nil)
	}
	b.tree.Map(tx.r.data, tx.r.pageSize) // Get prefetches each page's head
	// Kept allocated: pooled transactions reuse buckets.
	b.children.reset()
	b.deleted, b.moved = false, false
}

// Tx returns the transaction the bucket belongs to (nil for a nil Bucket).
func (b *Bucket) Tx() *Tx {
	if b == nil {
		return nil
	}
	return b.tx
}

// Writable reports whether the bucket belongs to a write transaction
// (false for a nil Bucket). As Tx.Writable and bbolt's, it stays true
// once the transaction ended, when writes return ErrTxClosed.
func (b *Bucket) Writable() bool { return b != nil && b.tx.writable }

// path names the bucket in errors and String: each name quoted, as a key
// is, joined by '/', e.g. "a"/"b", so that a bucket named "a/b" ("a/b")
// and bucket "b" in bucket "a" ("a"/"b") read apart; "" for the top
// level. A path deeper than maxPathNames shows its first and last names.
func (b *Bucket) path() string {
	if b.parent == nil {
		return `""`
	}
	var names []string
	for c := b; c.parent != nil; c = c.parent {
		names = append(names, c.name)
	}
	slices.Reverse(names)
	const maxPathNames, ends = 8, 3
	var sb strings.Builder
	for i, name := range names {
		if len(names) > maxPathNames && i == ends {
			fmt.Fprintf(&sb, "/...%d more...", len(names)-2*ends)
		}
		if len(names) > maxPathNames && i >= ends && i < len(names)-ends {
			continue
		}
		if i > 0 {
			sb.WriteByte('/')
		}
		sb.WriteString(quoteKey([]byte(name)))
	}
	return sb.String()
}

// where names the bucket in errors: its path (names clipped as keys
// are: a bucket's name may be 32 KiB), or the top level.
func (b *Bucket) where() string {
	if b.parent == nil {
		return "the top level"
	}
	return b.path()
}

// quoteKey quotes a key for an error message, clipped: a key or bucket
// name may be 32 KiB, and errors are read (and logged) by people.
func quoteKey(k []byte) string {
	const show = 64
	if len(k) <= show {
		return strconv.Quote(string(k))
	}
	return fmt.Sprintf("%q... (%d bytes)", k[:show], len(k))
}

// keyErr adds the key and the bucket to err, a refusal of key in b: the
// sentinel alone did not say which of a program's writes failed.
func (b *Bucket) keyErr(err error, key []byte) error {
	return fmt.Errorf("%w: %s in %s", err, quoteKey(key), b.where())
}

// wrapKey is wrap for an error from a change to key: a corrupt page
// fails the transaction; any other refusal gets the key and bucket.
func (b *Bucket) wrapKey(err error, key []byte) error {
	if err == nil || isCorrupt(err) {
		return b.wrap(err)
	}
	return b.keyErr(err, key)
}

// checkKey refuses a key (or bucket name) no page can hold.
func (b *Bucket) checkKey(key []byte, required error) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w in %s", required, b.where())
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: %s in %s; at most %d bytes", ErrKeyTooLarge, quoteKey(key), b.where(), MaxKeySize)
	}
	return nil
}

// errNilBucket is a write to (or ForEach of) the nil *Bucket returned
// for a missing name.
var errNilBucket = fmt.Errorf("%w: nil *Bucket (no bucket of the name asked for)", ErrBucketNotFound)

// errRootKey refuses a plain key at the top level (the root bucket that
// Tx.Cursor().Bucket() gives): the top level holds only buckets, and
// Check reports anything else there as corruption.
var errRootKey = fmt.Errorf("%w: the top level holds only buckets", ErrIncompatibleValue)

// writeCheck returns the error a write to b must fail with, if any.
func (b *Bucket) writeCheck() error {
	switch {
	case b == nil:
		return errNilBucket
	case b.tx.db == nil:
		return ErrTxClosed
	case !b.tx.writable:
		return ErrTxNotWritable
	case b.deleted:
		return b.deletedErr()
	case b.tx.err != nil:
		return b.tx.err
	}
	return nil
}

// deletedErr is the refusal of a bucket deleted in this transaction.
func (b *Bucket) deletedErr() error {
	return fmt.Errorf("%w: %s was deleted", ErrBucketNotFound, b.where())
}

// wrap adds the bucket's path to an error from the tree; a corrupt page
// also fails the transaction.
func (b *Bucket) wrap(err error) error {
	if err == nil {
		return nil
	}
	if isCorrupt(err) {
		b.tx.fail(fmt.Errorf("bucket %s: %w", b.path(), err))
		return b.tx.err
	}
	return err
}

// Get returns the value of key, or nil if key is absent or holds a nested
// bucket. The value points into the database's mapping (or, for a value
// written in this transaction, folio's copy of it): valid until the
// transaction ends, and in a write transaction until the next change to
// the bucket. It must not be modified. Get does not allocate.
func (b *Bucket) Get(key []byte) []byte {
	if b == nil || b.tx.db == nil {
		return nil
	}
	v, flags, found, err := b.tree.Get(key)
	if err != nil {
		_ = b.wrap(err)
		return nil
	}
	if !found || flags&page.LeafBucket != 0 {
		return nil
	}
	if v == nil {
		v = []byte{} // a present empty value is not a missing key
	}
	return v
}

// Put sets key to value. Unlike bbolt, Put copies value: the caller may
// reuse its buffer as soon as Put returns. A nil value is stored as an
// empty one. It returns ErrKeyRequired for an empty key, ErrKeyTooLarge
// past MaxKeySize, ErrValueTooLarge past MaxValueSize,
// ErrIncompatibleValue if key holds a nested bucket, and the errors of
// every write (see Bucket).
func (b *Bucket) Put(key, value []byte) error {
	if err := b.writeCheck(); err != nil {
		return err
	}
	// The key and value first, as bbolt checks them: an invalid key is
	// refused as such at the top level too.
	if err := b.checkKey(key, ErrKeyRequired); err != nil {
		return err
	}
	switch {
	case int64(len(value)) > MaxValueSize:
		return fmt.Errorf("%w: %d bytes for %s in %s; at most %d", ErrValueTooLarge, len(value), quoteKey(key), b.where(), MaxValueSize)
	case b.parent == nil:
		return errRootKey
	}
	b.setFill()
	stored, err := b.tree.PutCopy(key, value, 0, notBucket)
	if err != nil {
		return b.wrapKey(err, key)
	}
	if b.tx.logging {
		b.tx.logOp(opPut, b, key, stored, 0, nil)
	}
	return nil
}

func notBucket(exists bool, flags uint32) error {
	if exists && flags&page.LeafBucket != 0 {
		return ErrIncompatibleValue
	}
	return nil
}

// Delete removes key; a missing key is not an error, and writes nothing.
// A key that holds a nested bucket is ErrIncompatibleValue (DeleteBucket
// removes it); the other errors are those of every write (see Bucket).
func (b *Bucket) Delete(key []byte) error {
	if err := b.writeCheck(); err != nil {
		return err
	}
	if b.parent == nil {
		return errRootKey
	}
	found, err := b.tree.Delete(key, notBucket)
	if err != nil {
		return b.wrapKey(err, key)
	}
	if found && b.tx.logging {
		b.tx.logOp(opDelete, b, key, nil, 0, nil)
	}
	return nil
}

// Bucket returns the nested bucket name, or nil if there is none.
func (b *Bucket) Bucket(name []byte) *Bucket {
	if b == nil || b.tx.db == nil {
		return nil
	}
	if c := b.children.get(name); c != nil {
		return c
	}
	// A read transaction's directory is its snapshot's, which may know
	// the header already.
	cache := b.parent == nil && !b.tx.writable
	if cache {
		if h, leaf, from, ok := b.tx.snap.cachedBucket(name); ok {
			return b.open(name, h, leaf, from)
		}
	}
	v, flags, from, found, err := b.tree.GetFrom(name)
	if err != nil {
		_ = b.wrap(err)
		return nil
	}
	if !found || flags&page.LeafBucket == 0 {
		return nil
	}
	// A read transaction checks an inline leaf as deep as it checks a
	// leaf page (page.ReadBucketHeader), and whole under VerifyChecksums,
	// as it checks a page's CRC; a write transaction checks it whole
	// either way: it may copy the leaf, or free the bucket as owning
	// nothing.
	var h page.BucketHeader
	if b.tx.writable || b.tx.r.verify {
		h, err = page.DecodeBucketHeader(v, from)
	} else {
		h, err = page.ReadBucketHeader(v, from)
	}
	if err != nil {
		_ = b.wrap(err)
		return nil
	}
	var leaf []byte
	if h.Inline {
		leaf = page.BucketLeaf(v)
	}
	if cache {
		b.tx.snap.cacheBucket(name, h, leaf, from)
	}
	return b.open(name, h, leaf, from)
}

func (b *Bucket) open(name []byte, h page.BucketHeader, leaf []byte, from page.ID) *Bucket {
	c := b.tx.newBucket()
	c.init(b.tx, b, name, h, leaf, from)
	b.children.put(c)
	return c
}

// CreateBucket creates the nested bucket name. It returns
// ErrBucketExists if name holds a bucket, ErrIncompatibleValue if it
// holds a value, ErrBucketNameRequired for an empty name, ErrKeyTooLarge
// past MaxKeySize, and the errors of every write (see Bucket).
func (b *Bucket) CreateBucket(name []byte) (*Bucket, error) {
	if err := b.writeCheck(); err != nil {
		return nil, err
	}
	if err := b.checkKey(name, ErrBucketNameRequired); err != nil {
		return nil, err
	}
	var hdr [page.BucketHeaderSize]byte
	b.setFill()
	err := b.tree.Put(name, hdr[:], page.LeafBucket, func(exists bool, flags uint32) error {
		switch {
		case exists && flags&page.LeafBucket != 0:
			return ErrBucketExists
		case exists:
			return ErrIncompatibleValue
		}
		return nil
	})
	if err != nil {
		return nil, b.wrapKey(err, name)
	}
	if b.tx.logging {
		b.tx.logOp(opCreate, b, name, nil, 0, nil)
	}
	return b.open(name, page.BucketHeader{}, nil, 0), nil
}

// CreateBucketIfNotExists returns the nested bucket name, creating it if
// needed. Its errors are CreateBucket's, but for ErrBucketExists.
func (b *Bucket) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	if err := b.writeCheck(); err != nil {
		return nil, err
	}
	if c := b.Bucket(name); c != nil {
		return c, nil
	}
	if b.tx.err != nil {
		return nil, b.tx.err
	}
	return b.CreateBucket(name)
}

// DeleteBucket deletes the nested bucket name and everything in it,
// giving all its pages back; handles to it, and to buckets under it, then
// read as empty. It returns ErrBucketNotFound if there is no such bucket,
// ErrIncompatibleValue if name holds a value, ErrBucketNameRequired for
// an empty name, and the errors of every write (see Bucket).
func (b *Bucket) DeleteBucket(name []byte) error {
	if err := b.writeCheck(); err != nil {
		return err
	}
	c, err := b.mustBucket(name)
	if err != nil {
		return err
	}
	if err := c.deleteContents(); err != nil {
		return err
	}
	b.children.delete(c.name)
	if _, err = b.tree.Delete(name, nil); err != nil {
		return b.wrap(err)
	}
	if b.tx.logging {
		b.tx.logOp(opDrop, b, name, nil, 0, nil)
	}
	return nil
}

// mustBucket opens nested bucket name or says why it cannot.
func (b *Bucket) mustBucket(name []byte) (*Bucket, error) {
	if len(name) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrBucketNameRequired, b.where())
	}
	if c := b.Bucket(name); c != nil {
		return c, nil
	}
	if b.tx.err != nil {
		return nil, b.tx.err
	}
	if _, _, found, _ := b.tree.Get(name); found {
		return nil, b.keyErr(ErrIncompatibleValue, name)
	}
	return nil, b.keyErr(ErrBucketNotFound, name)
}

// deleteContents frees b's pages and those of every bucket under it.
//
// NB: a worklist, not recursion, and one set of the pages freed over all
// the trees: a file's bucket headers may form a cycle (a bucket holding
// its own tree), share trees or nest past any stack, and its branches may
// repeat a child (a cursor over them reads every path; FreeAll reads each
// page once and says ErrCorrupt at the second).
func (b *Bucket) deleteContents() error {
	type tree struct {
		b *Bucket // nil: not open in this transaction, nor any under it
		h page.BucketHeader
	}
	seen := btree.NewPageSet(b.tx.r.high)
	work := []tree{{b: b}}
	var scratch btree.Tree
	for len(work) > 0 {
		w := work[len(work)-1]
		work = work[:len(work)-1]
		t := &scratch
		if w.b != nil {
			t = &w.b.tree
		} else {
			t.Reset(b.tx.pages(), w.h.Root, w.h.RootSum)
		}
		err := t.FreeAll(seen, func(from page.ID, key, header []byte) error {
			if w.b != nil {
				// An open bucket's tree may hold changes its header does
				// not show yet.
				if c := w.b.children.get(key); c != nil {
					work = append(work, tree{b: c})
					return nil
				}
			}
			h, err := page.DecodeBucketHeader(header, from)
			if err != nil {
				return err
			}
			// An inline bucket owns no pages, and holds no nested
			// bucket (page.CheckInlineLeaf): nothing to free.
			if h.Root != 0 {
				work = append(work, tree{h: h})
			}
			return nil
		})
		if w.b != nil {
			w.b.children.reset()
			w.b.deleted = true
		}
		if err != nil {
			return b.wrap(err)
		}
	}
	return nil
}

// MoveBucket moves the nested bucket key from b into dst (nil: the top
// level), keeping its contents and sequence, as this transaction left
// them; handles to it follow it. It checks, in this order, as bbolt's
// does: the errors of every write (see Bucket), for b and then dst;
// ErrDifferentDB if dst belongs to another DB; ErrBucketNameRequired for
// an empty key; ErrBucketNotFound if b has no bucket key (whatever dst
// is: before ErrSameBuckets and ErrBucketExists) and ErrIncompatibleValue
// if key holds a value in b; ErrSameBuckets if dst is b, the bucket moved
// or one under it; ErrBucketExists if dst has a bucket key, and
// ErrIncompatibleValue if it has a value key.
//
// NB: the nil *Bucket that Tx.Bucket returns for a missing name is the
// top level here, not ErrBucketNotFound: check a looked-up dst first.
func (b *Bucket) MoveBucket(key []byte, dst *Bucket) error {
	if err := b.writeCheck(); err != nil {
		return err
	}
	if dst == nil {
		dst = &b.tx.root
	}
	if err := dst.writeCheck(); err != nil {
		return err
	}
	if dst.tx != b.tx {
		return b.keyErr(ErrDifferentDB, key)
	}
	// The key before dst's own refusals, as bbolt: moving a missing
	// bucket is ErrBucketNotFound, not ErrSameBuckets or ErrBucketExists.
	c, err := b.mustBucket(key)
	if err != nil {
		return err
	}
	if dst == b {
		return b.keyErr(ErrSameBuckets, key)
	}
	for p := dst; p != nil; p = p.parent {
		if p == c {
			return fmt.Errorf("%w: cannot move %s into itself", ErrSameBuckets, c.where())
		}
	}
	err = dst.tree.Put(key, c.appendValue(nil), page.LeafBucket, func(exists bool, flags uint32) error {
		switch {
		case exists && flags&page.LeafBucket != 0:
			return ErrBucketExists
		case exists:
			return ErrIncompatibleValue
		}
		return nil
	})
	if err != nil {
		return dst.wrapKey(err, key)
	}
	if _, err := b.tree.Delete(key, nil); err != nil {
		return b.wrap(err)
	}
	b.children.delete(c.name)
	c.parent = dst
	dst.children.put(c)
	c.moved = true
	if b.tx.logging {
		b.tx.logOp(opMove, b, key, nil, 0, dst)
	}
	return nil
}

// header is the bucket's current header (valid after spill).
func (b *Bucket) header() page.BucketHeader {
	root, sum := b.tree.Root()
	return page.BucketHeader{Root: root, RootSum: sum, Sequence: b.seq, Inline: b.tree.Inline() != nil}
}

// appendValue appends to dst the value the parent stores for b (valid
// after spill): its header, and an inline tree's leaf after it.
func (b *Bucket) appendValue(dst []byte) []byte {
	var hdr [page.BucketHeaderSize]byte
	b.header().Encode(hdr[:])
	return append(append(dst, hdr[:]...), b.tree.Inline()...)
}

// sameLeaf reports whether a and b are the same inline leaf (the same
// bytes in memory, not equal ones): a tree spilled again gets a new one.
func sameLeaf(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Cursor returns a cursor over the bucket's keys; nested buckets appear
// with a nil value.
func (b *Bucket) Cursor() *Cursor {
	c := &Cursor{bucket: b}
	if b != nil {
		c.c.Reset(&b.tree)
		c.c.SetStrict(b.tx.r.verify)
	}
	return c
}

// walkCheck returns the error a walk of b (ForEach) must stop with, if
// any: checked before each call of fn too, as fn may end a transaction
// from Begin (its snapshot may then be unmapped) or delete b, whose
// freed pages the walk would go on reading as if they were still b's.
func (b *Bucket) walkCheck() error {
	switch {
	case b == nil:
		return errNilBucket
	case b.tx.db == nil:
		return ErrTxClosed
	case b.deleted:
		return b.deletedErr()
	}
	return nil
}

// ForEach calls fn for every key in order (nested buckets with a nil
// value), stopping at fn's first error, which it returns. fn should not
// change the bucket: nothing panics if it does, but the walk, as a
// Cursor's, may then skip keys or return one twice. If fn deletes the
// bucket (or one above it), ForEach stops with ErrBucketNotFound. On a
// nil bucket it returns ErrBucketNotFound, once the transaction ended
// ErrTxClosed, and at a damaged page the transaction's ErrCorrupt error.
func (b *Bucket) ForEach(fn func(k, v []byte) error) error {
	if err := b.walkCheck(); err != nil {
		return err
	}
	var c btree.Cursor
	c.Reset(&b.tree)
	c.SetStrict(b.tx.r.verify)
	c.Map(b.tx.r.data, b.tx.r.pageSize) // prefetch the leaves ahead
	for k, v, flags := c.First(); k != nil; k, v, flags = c.Next() {
		if flags&page.LeafBucket != 0 {
			v = nil
		}
		if err := fn(k, v); err != nil {
			return err
		}
		if err := b.walkCheck(); err != nil {
			return err
		}
	}
	return b.wrap(c.Err())
}

// ForEachBucket calls fn for every nested bucket's name, in order, as
// ForEach does, and fails as ForEach does.
func (b *Bucket) ForEachBucket(fn func(k []byte) error) error {
	if err := b.walkCheck(); err != nil {
		return err
	}
	var c btree.Cursor
	c.Reset(&b.tree)
	c.SetStrict(b.tx.r.verify)
	for k, _, flags := c.First(); k != nil; k, _, flags = c.Next() {
		if flags&page.LeafBucket == 0 {
			continue
		}
		if err := fn(k); err != nil {
			return err
		}
		if err := b.walkCheck(); err != nil {
			return err
		}
	}
	return b.wrap(c.Err())
}

// Sequence returns the bucket's sequence number.
func (b *Bucket) Sequence() uint64 {
	if b == nil {
		return 0
	}
	return b.seq
}

// SetSequence sets the bucket's sequence number. Its errors are those of
// every write (see Bucket).
func (b *Bucket) SetSequence(v uint64) error {
	if err := b.writeCheck(); err != nil {
		return err
	}
	if b.parent == nil {
		return errRootSequence
	}
	b.seq = v
	if b.tx.logging {
		b.tx.logOp(opSequence, b, nil, nil, v, nil)
	}
	return nil
}

// errRootSequence: the top level's header is the meta's root, which
// has no sequence.
var errRootSequence = fmt.Errorf("%w: the top level has no sequence", ErrIncompatibleValue)

// NextSequence increments and returns the bucket's sequence number: the
// first call on a new bucket returns 1. At the largest uint64 it returns
// ErrSequenceOverflow and leaves the sequence as it is.
func (b *Bucket) NextSequence() (uint64, error) {
	if err := b.writeCheck(); err != nil {
		return 0, err
	}
	if b.parent == nil {
		return 0, errRootSequence
	}
	if b.seq == math.MaxUint64 {
		// bbolt wraps to 0: a program numbering its keys with it would
		// get numbers it had already used.
		return 0, fmt.Errorf("%w: %s is at %d", ErrSequenceOverflow, b.where(), b.seq)
	}
	b.seq++
	if b.tx.logging {
		b.tx.logOp(opSequence, b, nil, nil, b.seq, nil)
	}
	return b.seq, nil
}

// setFill hands the bucket's fill settings to its tree before anything
// that may split a node: a Put splits a node past four pages at once, not
// only at the commit, and the caller may change them at any time.
func (b *Bucket) setFill() {
	b.tree.Fill, b.tree.AppendFill = b.FillPercent, b.AppendFillPercent
}

// spill writes the bucket's changed nested buckets and then its own tree
// to new pages (commit step 1). Children go in name order, so the same
// transaction always lays out the same pages.
func (b *Bucket) spill() error {
	b.setFill() // the children's headers below may split too
	var value []byte
	for _, c := range b.children.sorted() {
		if err := c.spill(); err != nil {
			return err
		}
		h, leaf := c.header(), c.tree.Inline()
		if h == c.orig && sameLeaf(leaf, c.origLeaf) && !c.moved {
			continue
		}
		value = c.appendValue(value[:0])
		if err := b.tree.Put([]byte(c.name), value, page.LeafBucket, nil); err != nil {
			return b.wrap(err)
		}
		c.orig, c.origLeaf, c.origFrom, c.moved = h, leaf, 0, false
	}
	if err := b.tree.Rebalance(); err != nil {
		return b.wrap(err)
	}
	return b.wrap(b.tree.Spill())
}
