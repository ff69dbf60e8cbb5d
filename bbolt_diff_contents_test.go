package folio

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"reflect"

	bolt "go.etcd.io/bbolt"
)

// TestBboltDiff's listings of buckets, and the comparison of whole
// databases (bbolt_diff_test.go).

// diffElem is one element of a bucket: val is nil for a nested bucket.
type diffElem struct {
	key string
	val []byte
}

// diffDump is a bucket and everything under it.
type diffDump struct {
	seq   uint64
	elems []diffElem
	subs  map[string]*diffDump
}

// levelF lists folio bucket b's elements. Unless clone, the values are
// folio's, valid until the next change to the bucket.
func (d *diffRun) levelF(b *Bucket, clone bool) []diffElem {
	var out []diffElem
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if clone {
			v = bytes.Clone(v)
		}
		out = append(out, diffElem{diffString(k), v})
	}
	return out
}

// levelB lists bbolt bucket b's elements; a nil value that is no bucket
// must be a Put(k, nil) of this transaction, and is listed empty.
func (d *diffRun) levelB(b *bolt.Bucket, p diffPath, clone bool) []diffElem {
	var out []diffElem
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil && b.Bucket(k) == nil {
			if !d.nilPut[p.id()+string(k)] {
				d.fatalf("bbolt: %v holds %s with a nil value", p, diffShow(k))
			}
			v = []byte{}
		}
		if clone {
			v = bytes.Clone(v)
		}
		out = append(out, diffElem{diffString(k), v})
	}
	return out
}

// compareLevel compares bucket p's elements on both sides.
func (d *diffRun) compareLevel(p diffPath) {
	fb, bb := d.buckets(p)
	d.compareElems(p.String(), d.levelF(fb, false), d.levelB(bb, p, false))
}

func (d *diffRun) compareElems(where string, f, b []diffElem) {
	for i := range min(len(f), len(b)) {
		if f[i].key != b[i].key || (f[i].val == nil) != (b[i].val == nil) || !bytes.Equal(f[i].val, b[i].val) {
			d.fatalf("%s, element %d: folio %s = %s, bbolt %s = %s", where, i,
				diffShow([]byte(f[i].key)), diffShow(f[i].val), diffShow([]byte(b[i].key)), diffShow(b[i].val))
		}
	}
	if len(f) != len(b) {
		d.fatalf("%s: folio %d elements, bbolt %d", where, len(f), len(b))
	}
}

// sameElems compares what two walks met (sameValue's nil rule).
func (d *diffRun) sameElems(where string, p diffPath, f, b []diffElem) {
	for i := range min(len(f), len(b)) {
		if f[i].key != b[i].key || !d.sameValue(p, []byte(f[i].key), f[i].val, b[i].val) {
			d.fatalf("%s, element %d: folio %s = %s, bbolt %s = %s", where, i,
				diffShow([]byte(f[i].key)), diffShow(f[i].val), diffShow([]byte(b[i].key)), diffShow(b[i].val))
		}
	}
	if len(f) != len(b) {
		d.fatalf("%s: folio met %d elements, bbolt %d", where, len(f), len(b))
	}
}

// dumpF reads folio bucket b and everything under it.
func (d *diffRun) dumpF(b *Bucket, p diffPath) *diffDump {
	dd := &diffDump{seq: b.Sequence(), elems: d.levelF(b, true), subs: map[string]*diffDump{}}
	for _, e := range dd.elems {
		if e.val == nil {
			sub := b.Bucket([]byte(e.key))
			if sub == nil {
				d.fatalf("folio: %v/%s has a nil value but is no bucket", p, diffShow([]byte(e.key)))
			}
			dd.subs[e.key] = d.dumpF(sub, p.child(e.key))
		}
	}
	return dd
}

func (d *diffRun) dumpB(b *bolt.Bucket, p diffPath) *diffDump {
	dd := &diffDump{seq: b.Sequence(), elems: d.levelB(b, p, true), subs: map[string]*diffDump{}}
	for _, e := range dd.elems {
		if e.val == nil {
			dd.subs[e.key] = d.dumpB(b.Bucket([]byte(e.key)), p.child(e.key))
		}
	}
	return dd
}

// compareDumps fails unless f and b are the same contents.
func (d *diffRun) compareDumps(where string, f, b *diffDump) {
	if f.seq != b.seq {
		d.fatalf("%s: sequence: folio %d, bbolt %d", where, f.seq, b.seq)
	}
	d.compareElems(where, f.elems, b.elems)
	for _, e := range f.elems {
		if e.val == nil {
			d.compareDumps(where+"/"+diffShow([]byte(e.key)), f.subs[e.key], b.subs[e.key])
		}
	}
}

// compareAll compares the whole of both databases in read transactions,
// and returns the hash of the contents.
func (d *diffRun) compareAll(when string) uint64 {
	var sum uint64
	err := d.fdb.View(func(ftx *Tx) error {
		return d.bdb.View(func(btx *bolt.Tx) error {
			d.sameTxID(when, ftx, btx)
			sum = d.compareTxs(when, ftx, btx)
			return nil
		})
	})
	if err != nil {
		d.fatalf("%s: %v", when, err)
	}
	return sum
}

// compareTxs compares what two read transactions see, and the root's
// Stats, and returns the hash of the contents.
func (d *diffRun) compareTxs(when string, ftx *Tx, btx *bolt.Tx) uint64 {
	fr, br := ftx.Cursor().Bucket(), btx.Cursor().Bucket()
	fs, bs := fr.Stats(), br.Stats()
	if fs.KeyN != bs.KeyN || fs.BucketN != bs.BucketN {
		d.fatalf("%s: Stats: folio KeyN %d BucketN %d, bbolt %d %d", when, fs.KeyN, fs.BucketN, bs.KeyN, bs.BucketN)
	}
	// folio's Depth is its deepest tree's, nested buckets' too.
	d.depth, d.keyN, d.bktN = max(d.depth, fs.Depth), fs.KeyN, fs.BucketN
	var h maphash.Hash
	h.SetSeed(d.hash)
	d.compareTree(when, nil, fr, br, &h)
	d.compareInspect(when, ftx, btx)
	return h.Sum64()
}

// compareInspect compares Tx.Inspect, and Bucket.Inspect of each
// top-level bucket: in a write transaction, its changes so far too.
func (d *diffRun) compareInspect(when string, ftx *Tx, btx *bolt.Tx) {
	if f, b := ftx.Inspect(), fromBolt(btx.Inspect()); !reflect.DeepEqual(f, b) {
		d.fatalf("%s: Tx.Inspect: folio %+v, bbolt %+v", when, f, b)
	}
	c := btx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if f, b := ftx.Bucket(k).Inspect(), fromBolt(btx.Bucket(k).Inspect()); !reflect.DeepEqual(f, b) {
			d.fatalf("%s: Inspect of %s: folio %+v, bbolt %+v", when, diffString(k), f, b)
		}
	}
	if err := ftx.Err(); err != nil {
		d.fatalf("%s: Inspect: %v", when, err)
	}
}

// compareTree walks folio's bucket fb and bbolt's bb together, forwards
// and backwards, and then the buckets under them, feeding h.
func (d *diffRun) compareTree(when string, p diffPath, fb *Bucket, bb *bolt.Bucket, h *maphash.Hash) {
	if fb.Sequence() != bb.Sequence() {
		d.fatalf("%s: %v: sequence: folio %d, bbolt %d", when, p, fb.Sequence(), bb.Sequence())
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], fb.Sequence())
	h.Write(n[:])
	var subs [][]byte
	fc, bc := fb.Cursor(), bb.Cursor()
	fk, fv := fc.First()
	bk, bv := bc.First()
	for i := 0; ; i++ {
		if !bytes.Equal(fk, bk) || (fv == nil) != (bv == nil) || !bytes.Equal(fv, bv) {
			d.fatalf("%s: %v, element %d: folio %s = %s, bbolt %s = %s", when, p, i, diffShow(fk), diffShow(fv), diffShow(bk), diffShow(bv))
		}
		if fk == nil {
			d.width = max(d.width, i)
			break
		}
		binary.LittleEndian.PutUint64(n[:], uint64(len(fk)))
		h.Write(n[:])
		h.Write(fk)
		if fv == nil {
			h.WriteByte('b')
			subs = append(subs, bytes.Clone(fk))
		} else {
			binary.LittleEndian.PutUint64(n[:], uint64(len(fv)))
			h.Write(n[:])
			h.Write(fv)
		}
		fk, fv = fc.Next()
		bk, bv = bc.Next()
	}
	h.WriteByte('.')
	fk, _ = fc.Last()
	bk, _ = bc.Last()
	for i := 0; fk != nil || bk != nil; i++ {
		if !bytes.Equal(fk, bk) {
			d.fatalf("%s: %v, walking backwards, element %d: folio %s, bbolt %s", when, p, i, diffShow(fk), diffShow(bk))
		}
		fk, _ = fc.Prev()
		bk, _ = bc.Prev()
	}
	for _, name := range subs {
		fs, bs := fb.Bucket(name), bb.Bucket(name)
		if fs == nil || bs == nil {
			d.fatalf("%s: %v/%s has a nil value: folio's is a bucket %v, bbolt's %v", when, p, diffShow(name), fs != nil, bs != nil)
		}
		d.compareTree(when, p.child(string(name)), fs, bs, h)
	}
}
