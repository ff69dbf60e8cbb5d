package folio

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// TestBboltDiff's bucket operations (bbolt_diff_test.go).

func (d *diffRun) opPut() { d.putIn(d.pick(false), d.key(), d.value()) }

func (d *diffRun) putIn(p diffPath, k, v []byte) {
	fb, bb := d.buckets(p)
	changed := d.changing(p)
	fv := bytes.Clone(v)
	ferr := fb.Put(k, fv)
	// README, "Put copies the value": folio's buffer is changed at once;
	// bbolt's is left alone (it keeps a reference until the commit).
	for i := range fv {
		fv[i] ^= 0x5a
	}
	berr := bb.Put(k, v)
	d.note("put %v %s = %s: folio %v, bbolt %v", p, diffShow(k), diffShow(v), ferr, berr)
	if len(p) == 0 && d.writable && berr == nil {
		// README, "Misuse returns an error instead of panicking": a
		// plain key put into the top level is refused; bbolt takes it,
		// and the key is taken out of it again.
		if !errors.Is(ferr, ErrIncompatibleValue) {
			d.fatalf("put at the top level: folio %v", ferr)
		}
		d.quirk("README: a plain key put into the top level (folio refuses; undone in bbolt)")
		if err := bb.Delete(k); err != nil {
			d.fatalf("bbolt: undoing a top-level put: %v", err)
		}
		return
	}
	d.sameErr("Put", ferr, berr)
	if ferr != nil {
		return
	}
	d.wrote(p, k, append([]byte{}, v...))
	if v == nil {
		d.nilPut[p.id()+string(k)] = true
	} else {
		delete(d.nilPut, p.id()+string(k))
	}
	d.dirty[p.id()] = true
	changed(nil)
	d.compareLevel(p)
}

// opBulkPut puts many keys into one bucket, so that buckets grow trees
// of several levels.
func (d *diffRun) opBulkPut() {
	p := d.pick(false)
	for range 10 + d.rng.IntN(50) {
		k := d.key()
		if d.rng.IntN(3) != 0 {
			k = append(append(d.shortKey(), "abc"[d.rng.IntN(3)]), diffPad...)
		}
		d.putIn(p, k, d.value())
	}
}

func (d *diffRun) opGet() {
	p := d.pick(true)
	fb, bb := d.buckets(p)
	k := d.key()
	if d.rng.IntN(3) == 0 {
		k = d.name()
	}
	fv, bv := fb.Get(k), bb.Get(k)
	d.note("get %v %s: folio %s, bbolt %s", p, diffShow(k), diffShow(fv), diffShow(bv))
	if !d.sameValue(p, k, fv, bv) {
		d.fatalf("Get(%s) in %v: folio %s, bbolt %s", diffShow(k), p, diffShow(fv), diffShow(bv))
	}
}

func (d *diffRun) opDelete() {
	p := d.pick(false)
	k := d.key()
	if d.rng.IntN(4) == 0 {
		k = d.name() // often a nested bucket's
	}
	d.deleteIn(p, k)
}

// opDrain deletes the keys of a bucket, all of them or every second or
// third, so that a bucket grown in the transaction shrinks back (inline
// again, or empty) before it commits.
func (d *diffRun) opDrain() {
	p := d.pick(false)
	if len(p) == 0 {
		return
	}
	fb, _ := d.buckets(p)
	keep := d.rng.IntN(3)
	var keys [][]byte
	for _, e := range d.levelF(fb, false) {
		if e.val != nil || d.rng.IntN(4) == 0 { // a nested bucket now and then: refused
			keys = append(keys, []byte(e.key))
		}
	}
	d.note("drain %v: %d keys, keep %d", p, len(keys), keep)
	for i, k := range keys {
		if i%(keep+1) == 0 {
			d.deleteIn(p, k)
		}
	}
}

func (d *diffRun) deleteIn(p diffPath, k []byte) {
	fb, bb := d.buckets(p)
	changed := d.changing(p)
	ferr, berr := fb.Delete(k), bb.Delete(k)
	d.note("delete %v %s: folio %v, bbolt %v", p, diffShow(k), ferr, berr)
	if len(p) == 0 && d.writable && berr == nil {
		// README, "Misuse returns an error instead of panicking": a
		// Delete at the top level is refused; bbolt's deletes nothing
		// there (the top level holds only buckets, which it refuses).
		if !errors.Is(ferr, ErrIncompatibleValue) {
			d.fatalf("delete at the top level: folio %v", ferr)
		}
		d.quirk("README: a plain key deleted from the top level (folio refuses, bbolt finds none)")
		return
	}
	d.sameErr("Delete", ferr, berr)
	if ferr == nil {
		delete(d.nilPut, p.id()+string(k))
		d.shrunk[p.id()], d.dirty[p.id()] = true, true
		changed(nil)
		d.compareLevel(p)
	}
}

func (d *diffRun) opBucket() {
	p := d.pick(true)
	fb, bb := d.buckets(p)
	name := d.name()
	var fc *Bucket
	var bc *bolt.Bucket
	if len(p) == 0 && d.rng.IntN(2) == 0 {
		fc, bc = d.ftx.Bucket(name), d.btx.Bucket(name)
	} else {
		fc, bc = fb.Bucket(name), bb.Bucket(name)
	}
	d.note("bucket %v %s: folio %v, bbolt %v", p, diffShow(name), fc != nil, bc != nil)
	if (fc == nil) != (bc == nil) {
		d.fatalf("Bucket(%s) in %v: folio %v, bbolt %v", diffShow(name), p, fc != nil, bc != nil)
	}
	if fc != nil && (fc.Sequence() != bc.Sequence() || fc.Writable() != bc.Writable()) {
		d.fatalf("Bucket(%s) in %v: sequence %d/%d, writable %v/%v", diffShow(name), p,
			fc.Sequence(), bc.Sequence(), fc.Writable(), bc.Writable())
	}
}

func (d *diffRun) opCreateBucket() {
	p := d.pick(true)
	if d.rng.IntN(3) == 0 {
		p = nil
	}
	fb, bb := d.buckets(p)
	name := d.name()
	existed := d.isBucket(p, name)
	changed := d.changing(p)
	ifNot := d.rng.IntN(2) == 0
	var fc *Bucket
	var bc *bolt.Bucket
	var ferr, berr error
	switch top := len(p) == 0 && d.rng.IntN(2) == 0; {
	case ifNot && top:
		fc, ferr = d.ftx.CreateBucketIfNotExists(name)
		bc, berr = d.btx.CreateBucketIfNotExists(name)
	case ifNot:
		fc, ferr = fb.CreateBucketIfNotExists(name)
		bc, berr = bb.CreateBucketIfNotExists(name)
	case top:
		fc, ferr = d.ftx.CreateBucket(name)
		bc, berr = d.btx.CreateBucket(name)
	default:
		fc, ferr = fb.CreateBucket(name)
		bc, berr = bb.CreateBucket(name)
	}
	d.note("create bucket (if not exists %v) %v %s: folio %v, bbolt %v", ifNot, p, diffShow(name), ferr, berr)
	if len(name) > MaxKeySize && d.writable && berr == nil {
		// Not in README: folio refuses a bucket name longer than
		// MaxKeySize (ErrKeyTooLarge), as it refuses such a key; bbolt
		// checks no length there and creates the bucket, which is
		// deleted again.
		if !errors.Is(ferr, ErrKeyTooLarge) {
			d.fatalf("bucket name of %d bytes: folio %v", len(name), ferr)
		}
		d.quirk("bbolt: CreateBucket takes a name longer than MaxKeySize (folio refuses; undone in bbolt)")
		if err := bb.DeleteBucket(name); err != nil {
			d.fatalf("bbolt: undoing a bucket of a long name: %v", err)
		}
		d.shrunk[p.id()], d.dirty[p.id()] = true, true
		changed(nil)
		return
	}
	d.sameErr("CreateBucket", ferr, berr)
	if (fc == nil) != (bc == nil) {
		d.fatalf("CreateBucket returned a bucket: folio %v, bbolt %v", fc != nil, bc != nil)
	}
	if fc == nil {
		return
	}
	if fc.Sequence() != bc.Sequence() {
		d.fatalf("CreateBucket: sequence %d, bbolt %d", fc.Sequence(), bc.Sequence())
	}
	if !existed {
		d.wrote(p, name, nil)
		d.dirty[p.id()], d.dirty[p.child(string(name)).id()] = true, true
		changed(nil)
		d.compareLevel(p)
	}
}

func (d *diffRun) opDeleteBucket() {
	p := d.pick(true)
	fb, bb := d.buckets(p)
	name := d.name()
	if subs := d.subBuckets(p); len(subs) > 0 && d.rng.IntN(3) != 0 {
		name = []byte(subs[d.rng.IntN(len(subs))])
	}
	changed := d.changing(p)
	var ferr, berr error
	if len(p) == 0 && d.rng.IntN(2) == 0 {
		ferr, berr = d.ftx.DeleteBucket(name), d.btx.DeleteBucket(name)
	} else {
		ferr, berr = fb.DeleteBucket(name), bb.DeleteBucket(name)
	}
	d.note("delete bucket %v %s: folio %v, bbolt %v", p, diffShow(name), ferr, berr)
	if len(name) == 0 && d.writable && !errors.Is(berr, berrors.ErrBucketNameRequired) {
		d.emptyName("DeleteBucket", ferr, berr)
		return
	}
	d.sameErr("DeleteBucket", ferr, berr)
	if ferr == nil {
		d.gone(p.child(string(name)))
		d.shrunk[p.id()], d.dirty[p.id()] = true, true
		changed(nil)
		d.compareLevel(p)
	}
}

// emptyName checks DeleteBucket's or MoveBucket's refusal of an empty
// name. Not in README: folio says ErrBucketNameRequired, as CreateBucket
// does; bbolt looks the empty name up and says ErrBucketNotFound, or
// ErrIncompatibleValue in an empty bucket (its seek finds no key, and
// nil equals the empty name).
func (d *diffRun) emptyName(what string, ferr, berr error) {
	if !errors.Is(ferr, ErrBucketNameRequired) ||
		!(errors.Is(berr, berrors.ErrBucketNotFound) || errors.Is(berr, berrors.ErrIncompatibleValue)) {
		d.fatalf("%s of an empty name: folio %v, bbolt %v", what, ferr, berr)
	}
	d.quirk(fmt.Sprintf("bbolt: %s of an empty name says %s (folio: ErrBucketNameRequired)", what, diffClass(berr, false)))
}

func (d *diffRun) opMoveBucket() {
	src := d.pick(true)
	name := d.name()
	if subs := d.subBuckets(src); len(subs) > 0 && d.rng.IntN(4) != 0 {
		name = []byte(subs[d.rng.IntN(len(subs))])
	}
	moved := src.child(string(name))
	isBucket := d.isBucket(src, name)
	var dst diffPath
	switch r := d.rng.IntN(10); {
	case r == 0 && isBucket:
		dst = d.pickUnder(moved)
	case r == 1:
		dst = src
	default:
		dst = d.pick(true)
	}
	fs, bs := d.buckets(src)
	fd, bd := d.buckets(dst)
	var before *diffDump
	if isBucket {
		bm := bs.Bucket(name)
		if bm == nil {
			d.fatalf("bucket %v: folio has it, bbolt not", moved)
		}
		before = d.dumpB(bm, moved)
	}
	changedSrc, changedDst := d.changing(src), d.changing(dst)
	var ferr, berr error
	tx := d.rng.IntN(2) == 0
	if tx {
		ferr = d.ftx.MoveBucket(name, diffOrNil(fs, len(src) == 0), diffOrNil(fd, len(dst) == 0))
	} else {
		ferr = fs.MoveBucket(name, fd)
	}
	if dst.under(moved) && d.writable {
		// Not in README: a bucket moved into itself or a bucket under it
		// is refused (ErrSameBuckets, TestMisuseErrors). bbolt does not
		// check: it would take the bucket out of the tree, with its pages.
		// So bbolt is not asked.
		d.note("move bucket %s from %v into %v, under itself: folio %v", diffShow(name), src, dst, ferr)
		if !errors.Is(ferr, ErrSameBuckets) {
			d.fatalf("move of %v into %v: folio %v", moved, dst, ferr)
		}
		d.quirk("bbolt: MoveBucket into the moved bucket itself (folio refuses; bbolt not asked)")
		return
	}
	// bbolt moves the bucket as committed: whatever this transaction did
	// in it, or in buckets under it, is lost (etcd-io/bbolt#1239); worse,
	// a bucket deleted under it comes back, its pages free, and the file
	// bbolt then commits is corrupt. So a bucket changed in this
	// transaction is moved in bbolt by hand: a copy, then DeleteBucket.
	emulate := d.writable && ferr == nil && slices.ContainsFunc(slices.Collect(maps.Keys(d.dirty)),
		func(id string) bool { return strings.HasPrefix(id, moved.id()) })
	switch {
	case emulate:
		if bs.Bucket(name) == nil || bd.Get(name) != nil || bd.Bucket(name) != nil || bs == bd {
			d.fatalf("move of %v into %v: folio succeeded, bbolt's would not", moved, dst)
		}
		d.quirk("bbolt: MoveBucket of a bucket changed in this tx (etcd-io/bbolt#1239: copied and deleted instead)")
		nb, err := bd.CreateBucket(name)
		if err != nil {
			d.fatalf("bbolt: moving %v by hand: %v", moved, err)
		}
		d.boltCopy(nb, bs.Bucket(name))
		if err := bs.DeleteBucket(name); err != nil {
			d.fatalf("bbolt: moving %v by hand: %v", moved, err)
		}
	case tx:
		berr = d.btx.MoveBucket(name, diffOrNil(bs, len(src) == 0), diffOrNil(bd, len(dst) == 0))
	default:
		berr = bs.MoveBucket(name, bd)
	}
	d.note("move bucket %s from %v into %v: folio %v, bbolt %v", diffShow(name), src, dst, ferr, berr)
	if len(name) == 0 && d.writable {
		d.emptyName("MoveBucket", ferr, berr)
		return
	}
	d.sameErr("MoveBucket", ferr, berr)
	if ferr != nil {
		return
	}
	to := dst.child(string(name))
	d.wrote(dst, name, nil)
	d.gone(moved)
	d.shrunk[src.id()] = true
	d.dirty[src.id()], d.dirty[dst.id()] = true, true
	if emulate {
		d.dirtyTree(to) // every bucket of the copy is new
	}
	changedSrc(nil)
	changedDst(nil)
	d.compareLevel(src)
	d.compareLevel(dst)
	ft, bt := d.buckets(to)
	d.compareDumps(to.String(), d.dumpF(ft, to), before)
	d.compareDumps(to.String(), d.dumpF(ft, to), d.dumpB(bt, to))
}

// dirtyTree marks bucket p and every bucket under it changed.
func (d *diffRun) dirtyTree(p diffPath) {
	d.dirty[p.id()] = true
	for _, name := range d.subBuckets(p) {
		d.dirtyTree(p.child(name))
	}
}

func diffOrNil[B any](b *B, root bool) *B {
	if root {
		return nil
	}
	return b
}

// boltCopy copies bbolt bucket from into the empty bucket to.
func (d *diffRun) boltCopy(to, from *bolt.Bucket) {
	c := from.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var err error
		if sub := from.Bucket(k); v == nil && sub != nil {
			var nb *bolt.Bucket
			if nb, err = to.CreateBucket(k); err == nil {
				d.boltCopy(nb, sub)
			}
		} else {
			err = to.Put(bytes.Clone(k), append([]byte{}, v...)) // not nil: see sameValue
		}
		if err != nil {
			d.fatalf("bbolt: copying a bucket: %v", err)
		}
	}
	if err := to.SetSequence(from.Sequence()); err != nil {
		d.fatalf("bbolt: copying a bucket: %v", err)
	}
}

func (d *diffRun) opSequence() {
	p := d.pick(true)
	fb, bb := d.buckets(p)
	r := d.rng.IntN(3)
	switch r {
	case 0:
		d.note("sequence %v: folio %d, bbolt %d", p, fb.Sequence(), bb.Sequence())
	case 1:
		fs, ferr := fb.NextSequence()
		bs, berr := bb.NextSequence()
		d.note("next sequence %v: folio %d %v, bbolt %d %v", p, fs, ferr, bs, berr)
		if d.rootSequence(p, bb, ferr, berr) {
			return
		}
		if errors.Is(ferr, ErrSequenceOverflow) && berr == nil && bs == 0 {
			d.quirk("README: NextSequence at the largest uint64 (folio refuses; bbolt wraps to 0, undone)")
			if err := bb.SetSequence(math.MaxUint64); err != nil {
				d.fatalf("bbolt: undoing the wrapped sequence: %v", err)
			}
			return
		}
		d.sameErr("NextSequence", ferr, berr)
		if fs != bs {
			d.fatalf("NextSequence in %v: folio %d, bbolt %d", p, fs, bs)
		}
	default:
		v := []uint64{0, 1, 7, math.MaxUint64, math.MaxUint64 - 1, d.rng.Uint64()}[d.rng.IntN(6)]
		ferr, berr := fb.SetSequence(v), bb.SetSequence(v)
		d.note("set sequence %v %d: folio %v, bbolt %v", p, v, ferr, berr)
		if d.rootSequence(p, bb, ferr, berr) {
			return
		}
		d.sameErr("SetSequence", ferr, berr)
	}
	if d.writable && r > 0 {
		d.dirty[p.id()] = true
	}
	if fb.Sequence() != bb.Sequence() {
		d.fatalf("Sequence of %v: folio %d, bbolt %d", p, fb.Sequence(), bb.Sequence())
	}
}

// rootSequence handles NextSequence and SetSequence on the root bucket.
// Not in README: folio refuses them (ErrIncompatibleValue: the root
// bucket has no header to keep one in); bbolt keeps the root's sequence
// in its meta page. bbolt's is set back.
func (d *diffRun) rootSequence(p diffPath, bb *bolt.Bucket, ferr, berr error) bool {
	if len(p) != 0 || !d.writable || berr != nil {
		return false
	}
	if !errors.Is(ferr, ErrIncompatibleValue) {
		d.fatalf("sequence of the root bucket: folio %v", ferr)
	}
	d.quirk("bbolt: the root bucket has a sequence (folio refuses; undone in bbolt)")
	if err := bb.SetSequence(0); err != nil {
		d.fatalf("bbolt: undoing the root's sequence: %v", err)
	}
	return true
}

func (d *diffRun) opForEach() {
	p := d.pick(true)
	fb, bb := d.buckets(p)
	stop := d.rng.IntN(16) // calls before the function fails
	var fs, bs []diffElem
	ferr := fb.ForEach(func(k, v []byte) error {
		fs = append(fs, diffElem{diffString(k), bytes.Clone(v)})
		if len(fs) > stop {
			return errDiffStop
		}
		return nil
	})
	berr := bb.ForEach(func(k, v []byte) error {
		bs = append(bs, diffElem{diffString(k), bytes.Clone(v)})
		if len(bs) > stop {
			return errDiffStop
		}
		return nil
	})
	d.note("for each %v, stop after %d: folio %d %v, bbolt %d %v", p, stop, len(fs), ferr, len(bs), berr)
	d.sameErr("ForEach", ferr, berr)
	d.sameElems("ForEach in "+p.String(), p, fs, bs)
}

func (d *diffRun) opForEachBucket() {
	p := d.pick(true)
	fb, bb := d.buckets(p)
	stop := d.rng.IntN(8)
	var fs, bs []string
	ferr := fb.ForEachBucket(func(k []byte) error {
		fs = append(fs, diffString(k))
		if len(fs) > stop {
			return errDiffStop
		}
		return nil
	})
	berr := bb.ForEachBucket(func(k []byte) error {
		bs = append(bs, diffString(k))
		if len(bs) > stop {
			return errDiffStop
		}
		return nil
	})
	d.note("for each bucket %v: folio %d %v, bbolt %d %v", p, len(fs), ferr, len(bs), berr)
	d.sameErr("ForEachBucket", ferr, berr)
	if !slices.Equal(fs, bs) {
		d.fatalf("ForEachBucket in %v: folio %q, bbolt %q", p, fs, bs)
	}
}

func (d *diffRun) opTxForEach() {
	stop := d.rng.IntN(8)
	var fs, bs []string
	ferr := d.ftx.ForEach(func(k []byte, b *Bucket) error {
		fs = append(fs, fmt.Sprint(string(k), b != nil))
		if len(fs) > stop {
			return errDiffStop
		}
		return nil
	})
	berr := d.btx.ForEach(func(k []byte, b *bolt.Bucket) error {
		bs = append(bs, fmt.Sprint(string(k), b != nil))
		if len(bs) > stop {
			return errDiffStop
		}
		return nil
	})
	d.note("tx for each: folio %d %v, bbolt %d %v", len(fs), ferr, len(bs), berr)
	d.sameErr("Tx.ForEach", ferr, berr)
	if !slices.Equal(fs, bs) {
		d.fatalf("Tx.ForEach: folio %q, bbolt %q", fs, bs)
	}
}

// opStats compares Stats' KeyN and BucketN: of the committed pages in
// both, so in read transactions only.
func (d *diffRun) opStats() {
	if d.writable {
		return
	}
	p := d.pick(true)
	fb, bb := d.buckets(p)
	fs, bs := fb.Stats(), bb.Stats()
	d.note("stats %v: folio %d keys %d buckets, bbolt %d %d", p, fs.KeyN, fs.BucketN, bs.KeyN, bs.BucketN)
	if fs.KeyN != bs.KeyN || fs.BucketN != bs.BucketN {
		d.fatalf("Stats of %v: folio KeyN %d BucketN %d, bbolt %d %d", p, fs.KeyN, fs.BucketN, bs.KeyN, bs.BucketN)
	}
}
