package folio

import (
	"bytes"
	"errors"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// TestBboltDiff's cursors, and the model they are checked against
// (bbolt_diff_test.go).

// Cursor states of the model (diffCursor).
const (
	dcNone    = iota // never moved
	dcOn             // on key
	dcPast           // past the last key (or in an empty bucket)
	dcDeleted        // key was deleted through the cursor, which rests between its neighbours
	dcInvalid        // the bucket changed under the cursor: only a First, Last or Seek compares again
)

// diffCursor is a cursor pair over one bucket, with the model's state.
type diffCursor struct {
	path  diffPath
	id    string
	f     *Cursor
	b     *bolt.Cursor
	state int
	key   string     // dcOn: the key under the cursor; dcDeleted: the key deleted
	lost  []diffElem // dcInvalid: the bucket's elements before the change
}

func (d *diffRun) opCursor() {
	var c *diffCursor
	if len(d.cursors) > 0 && d.rng.IntN(4) != 0 {
		c = d.cursors[d.rng.IntN(len(d.cursors))]
	} else {
		p := d.pick(true)
		c = &diffCursor{path: p, id: p.id()}
		if len(p) == 0 && d.rng.IntN(2) == 0 {
			c.f, c.b = d.ftx.Cursor(), d.btx.Cursor()
		} else {
			fb, bb := d.buckets(p)
			c.f, c.b = fb.Cursor(), bb.Cursor()
		}
		if len(d.cursors) == 8 {
			d.cursors = d.cursors[1:]
		}
		d.cursors = append(d.cursors, c)
	}
	if d.rng.IntN(5) != 0 {
		for range 1 + d.rng.IntN(8) {
			d.cursorStep(c, "")
		}
		return
	}
	// A run: from an end or a Seek, many moves one way, and Deletes
	// (which empty whole leaves).
	d.cursorStep(c, []string{"first", "last", "seek"}[d.rng.IntN(3)])
	move, del := []string{"next", "prev"}[d.rng.IntN(2)], d.rng.IntN(4)
	for range 5 + d.rng.IntN(60) {
		op := move
		if d.rng.IntN(4) < del {
			op = "delete"
		} else if d.rng.IntN(10) == 0 {
			op = "next"
			if move == "next" {
				op = "prev"
			}
		}
		d.cursorStep(c, op)
	}
}

// cursorStep runs cursor call op (a random one if "") on both sides and
// on the model.
func (d *diffRun) cursorStep(c *diffCursor, op string) {
	r := d.rng.IntN(100)
	if c.state == dcNone && d.rng.IntN(4) != 0 {
		r %= 30 // mostly a First, Last or Seek to begin with
	}
	switch {
	case op != "":
	case r < 8:
		op = "first"
	case r < 16:
		op = "last"
	case r < 30:
		op = "seek"
	case r < 55:
		op = "next"
	case r < 75:
		op = "prev"
	default:
		op = "delete"
	}
	var seek []byte
	if op == "seek" {
		seek = d.key()
		if d.rng.IntN(3) == 0 {
			seek = append(d.shortKey(), byte(d.rng.IntN(2)*0xff)) // between neighbours
		}
	}
	elems := d.levelF(c.f.Bucket(), false)
	if c.state == dcInvalid {
		switch op {
		case "next", "prev":
			d.invalidMove(c, op, elems)
			return
		case "delete":
			op, seek = "seek", d.key()
		}
	}
	if op == "delete" {
		d.cursorDelete(c, elems)
		return
	}
	// What the model says.
	st, at := c.state, c.key
	want, wantState, wantKey := diffModelMove(st, at, elems, op, string(seek))
	var fk, fv, bk, bv []byte
	switch op {
	case "first":
		fk, fv = c.f.First()
	case "last":
		fk, fv = c.f.Last()
	case "seek":
		fk, fv = c.f.Seek(seek)
	case "next":
		fk, fv = c.f.Next()
	case "prev":
		fk, fv = c.f.Prev()
	}
	fk, fv = bytes.Clone(fk), bytes.Clone(fv)
	// bbolt's calls that give folio's answer.
	switch {
	case op == "last" && len(elems) == 0 && d.shrunk[c.id]:
		// bbolt's Last loops forever in a bucket whose leaves all lost
		// their keys in this transaction (several leaves, all empty:
		// its loop over empty leaves calls prev, which at the start
		// calls first, which lands on the last empty leaf again). First
		// gives the same nil, and places the cursor.
		d.quirk("bbolt: Cursor.Last may hang on a bucket emptied in this tx (First asked instead)")
		bk, bv = c.b.First()
	case st == dcDeleted && op == "next":
		// README, "Cursor.Delete followed by Next returns the next key":
		// bbolt's cursor may skip one there (or return the deleted key),
		// so bbolt is asked for the key after the deleted one.
		bk, bv = c.b.Seek([]byte(at))
	case st == dcDeleted && op == "prev":
		// The same bullet: Prev returns the key before the deleted one.
		c.b.Seek([]byte(at))
		bk, bv = c.b.Prev()
	case op == "first":
		bk, bv = c.b.First()
	case op == "last":
		bk, bv = c.b.Last()
	case op == "seek":
		bk, bv = c.b.Seek(seek)
	case op == "next":
		bk, bv = c.b.Next()
	case op == "prev":
		bk, bv = c.b.Prev()
	}
	d.note("cursor %v %s %s: folio %s, bbolt %s", c.path, op, diffShow(seek), diffShow(fk), diffShow(bk))
	// folio against the model.
	if want < 0 && fk != nil || want >= 0 && !d.isElem(fk, fv, elems[want]) {
		wk := "nil"
		if want >= 0 {
			wk = diffShow([]byte(elems[want].key))
		}
		d.fatalf("cursor on %v, %s %s (state %d %s): folio %s %s, want %s",
			c.path, op, diffShow(seek), st, diffShow([]byte(at)), diffShow(fk), diffShow(fv), wk)
	}
	c.state, c.key = wantState, wantKey
	// bbolt against folio.
	if !bytes.Equal(fk, bk) || !d.sameValue(c.path, fk, fv, bv) {
		if !(op == "next" || op == "prev") || !d.shrunk[c.id] {
			d.fatalf("cursor on %v, %s %s: folio %s %s, bbolt %s %s",
				c.path, op, diffShow(seek), diffShow(fk), diffShow(fv), diffShow(bk), diffShow(bv))
		}
		// bbolt's cursor stops at a leaf emptied in this transaction
		// (Prev returns nil there, and the next move starts from it);
		// folio's steps over it, as the model says. bbolt is put where
		// folio is.
		d.quirk("bbolt: a cursor move meets a leaf emptied in this tx")
		d.resync(c, elems)
	} else if fk == nil && d.shrunk[c.id] {
		// At an end bbolt may rest on an empty leaf, from where its
		// next move (or Delete) is not folio's.
		d.resync(c, elems)
	}
}

// resync puts bbolt's cursor where the model says folio's is.
func (d *diffRun) resync(c *diffCursor, elems []diffElem) {
	switch c.state {
	case dcOn:
		if k, _ := c.b.Seek([]byte(c.key)); string(k) != c.key {
			d.fatalf("bbolt: Seek(%s) = %s", diffShow([]byte(c.key)), diffShow(k))
		}
	case dcPast:
		if len(elems) > 0 {
			if k, _ := c.b.Seek(append([]byte(elems[len(elems)-1].key), 0)); k != nil {
				d.fatalf("bbolt: Seek past the end = %s", diffShow(k))
			}
		}
	}
}

// invalidMove runs Next or Prev on a cursor whose bucket changed under
// it. README: the cursor reads the bucket as it is now, and may skip keys
// next to the change, as bbolt's does; bbolt's cursor then may return
// what is no longer there, or panic, so it is not asked. folio's must
// return an element of the bucket, or nil.
func (d *diffRun) invalidMove(c *diffCursor, op string, elems []diffElem) {
	var k, v []byte
	if op == "next" {
		k, v = c.f.Next()
	} else {
		k, v = c.f.Prev()
	}
	d.note("cursor %v (changed under it) %s: folio %s", c.path, op, diffShow(k))
	if k == nil {
		return
	}
	// NB: a cursor that moved onto a committed leaf reads that page
	// until it leaves it (bbolt's too): a key changed or deleted since
	// may come back as it was when the cursor last moved, as c.lost has
	// it. And one on a node that a later Put split (a large transaction
	// splits as it goes) reads that node as it was then.
	for _, was := range [][]diffElem{elems, c.lost} {
		i := sort.Search(len(was), func(i int) bool { return was[i].key >= string(k) })
		if i < len(was) && d.isElem(k, v, was[i]) {
			return
		}
	}
	if d.written[d.elemHash(c.path, k, v)] {
		return
	}
	d.fatalf("cursor on %v, changed under it, %s: folio %s %s, never in the bucket", c.path, op, diffShow(k), diffShow(v))
}

// isElem reports whether a cursor's k, v is e.
func (d *diffRun) isElem(k, v []byte, e diffElem) bool {
	if string(k) != e.key || k == nil {
		return false
	}
	if e.val == nil {
		return v == nil
	}
	return v != nil && bytes.Equal(v, e.val)
}

// diffModelMove is what a cursor move returns: the index of the element
// in elems (-1 for nil), and the state after it. A move off an end
// returns nil and leaves the cursor on the last (first) key; Seek past
// the last key leaves it past; after a Delete, Next returns the key after
// the deleted one and Prev the key before (README).
func diffModelMove(st int, at string, elems []diffElem, op, seek string) (int, int, string) {
	n := len(elems)
	find := func(k string) int { return sort.Search(n, func(i int) bool { return elems[i].key >= k }) }
	on := func(i int) (int, int, string) { return i, dcOn, elems[i].key }
	switch op {
	case "first", "last", "seek":
		i := map[string]int{"first": 0, "last": n - 1, "seek": find(seek)}[op]
		if n == 0 || i == n {
			return -1, dcPast, ""
		}
		return on(i)
	case "next":
		switch i := find(at); st {
		case dcOn:
			if i+1 < n {
				return on(i + 1)
			}
		case dcDeleted:
			if i < n {
				return on(i)
			}
			return -1, dcPast, ""
		}
	case "prev":
		switch i := find(at); st {
		case dcOn:
			if i > 0 {
				return on(i - 1)
			}
		case dcDeleted:
			if i > 0 {
				return on(i - 1)
			}
			if n > 0 {
				return -1, dcOn, elems[0].key
			}
			return -1, dcPast, ""
		case dcPast:
			if n > 0 {
				return on(n - 1)
			}
		}
	}
	return -1, st, at
}

// cursorDelete runs Cursor.Delete on both sides and on the model.
func (d *diffRun) cursorDelete(c *diffCursor, elems []diffElem) {
	st, at := c.state, c.key
	find := func(k string) int {
		return sort.Search(len(elems), func(i int) bool { return elems[i].key >= k })
	}
	// The model: the element deleted (-1: none), or a refusal.
	del, refuse := -1, false
	switch st {
	case dcOn:
		del = find(at)
	case dcDeleted:
		// README, "A second Delete without a move removes the element
		// that followed".
		if del = find(at); del == len(elems) {
			del = -1
		}
	}
	if del >= 0 && elems[del].val == nil {
		del, refuse = -1, true // README: a nested bucket is refused
	}
	if !d.writable {
		del, refuse = -1, false
	}
	changed := d.changing(c.path)
	ferr := c.f.Delete()
	var berr error
	switch {
	case st == dcNone && d.writable:
		// README, "Misuse returns an error instead of panicking": a
		// Delete on a cursor never moved deletes nothing and returns
		// nil (TestCursorDeleteSemantics); bbolt's panics (index out of
		// range).
		if !diffPanics(func() { berr = c.b.Delete() }) {
			d.fatalf("bbolt: Delete on a cursor never moved: %v, want a panic", berr)
		}
		d.quirk("README: Cursor.Delete on a cursor never moved (bbolt panics)")
	case st == dcDeleted:
		// README, "A second Delete without a move removes the element
		// that followed": what bbolt's cursor is on after a Delete
		// depends on whether its leaf was changed in this transaction
		// already, so bbolt's is moved there first.
		if k, _ := c.b.Seek([]byte(at)); k != nil {
			berr = c.b.Delete()
		}
	default:
		berr = c.b.Delete()
	}
	d.note("cursor %v delete (state %d %s): folio %v, bbolt %v", c.path, st, diffShow([]byte(at)), ferr, berr)
	switch {
	case !d.writable:
		d.sameErr("Cursor.Delete", ferr, berr)
		return
	case refuse != errors.Is(ferr, ErrIncompatibleValue) || !refuse && ferr != nil:
		d.fatalf("cursor on %v, Delete (state %d %s): folio %v, refusal wanted %v", c.path, st, diffShow([]byte(at)), ferr, refuse)
	}
	if st != dcNone {
		d.sameErr("Cursor.Delete", ferr, berr)
	}
	if del < 0 {
		return
	}
	c.state, c.key = dcDeleted, elems[del].key
	delete(d.nilPut, c.id+c.key)
	d.shrunk[c.id], d.dirty[c.id] = true, true
	changed(c)
	// Exactly that element is gone.
	got := d.levelF(c.f.Bucket(), false)
	want := slices.Delete(slices.Clone(elems), del, del+1)
	if !slices.EqualFunc(got, want, func(a, b diffElem) bool { return a.key == b.key }) {
		d.fatalf("cursor on %v, Delete of %s: %d keys left, want %d", c.path, diffShow([]byte(c.key)), len(got), len(want))
	}
	d.compareLevel(c.path)
}
