package folio

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var (
	cursorModelDeep = flag.Bool("cursormodel.deep", false,
		"TestCursorModel: more seeds, transactions and operations")
	cursorModelTrace = flag.Bool("cursormodel.trace", false,
		"TestCursorModel: compare the whole bucket after every operation, and log every operation of a failing transaction")
)

// cmModel is the model of bucket p/b: its plain keys and values, its
// nested buckets (each a map of plain keys) and its sequence, with the
// keys of both kinds in order.
type cmModel struct {
	kv   map[string]string
	subs map[string]map[string]string
	seq  uint64
	keys []string
}

func (m *cmModel) clone() *cmModel {
	c := &cmModel{kv: maps.Clone(m.kv), subs: map[string]map[string]string{}, seq: m.seq, keys: slices.Clone(m.keys)}
	for k, s := range m.subs {
		c.subs[k] = maps.Clone(s)
	}
	return c
}

func (m *cmModel) add(k string) {
	if i, found := slices.BinarySearch(m.keys, k); !found {
		m.keys = slices.Insert(m.keys, i, k)
	}
}

func (m *cmModel) remove(k string) {
	if i, found := slices.BinarySearch(m.keys, k); found {
		m.keys = slices.Delete(m.keys, i, i+1)
	}
}

// cmCursor is where the model says the cursor stands. Known: pos in
// keys as apiCursor's (-1 never moved, len(keys) past the end; deleted:
// a Delete left it on the key that followed). After a change to the
// bucket not made through the cursor, where Next and Prev go is not
// exact (README), so the cursor is unknown until First, Last or Seek;
// but Delete still removes the key it last returned or rests on (rest;
// none if restNone), or after a Delete the first key after the one
// deleted (restAfter), unless restLost says even that is not known.
type cmCursor struct {
	known    bool
	pos      int
	deleted  bool
	rest     string
	restNone bool
	restLost bool
	// restAfter: Delete removes the first key after rest (a Delete left
	// the cursor resting before it: rest is the key deleted).
	restAfter bool
	// delKey is the key a Delete of the known cursor removed, or found
	// gone (while deleted).
	delKey string
}

// cmKey is key i of the key space: lengths vary, so leaves hold more or
// fewer of them.
func cmKey(i int) string { return fmt.Sprintf("k%04d%s", i, strings.Repeat("-", i%17)) }

// TestCursorModel interleaves, in write transactions, cursor
// moves and Cursor.Deletes with Bucket.Put and Delete (single keys, and
// runs that split leaves or empty them), CreateBucket, DeleteBucket,
// writes into nested buckets, sequences and Gets, against a sorted model.
// Where the README promises exact results it checks them: a cursor
// repositioned with First, Last or Seek walks the bucket as it is now
// (keys and values, nested buckets with nil), Cursor.Delete then Next or
// Prev, and Cursor.Delete after a change removes the key the cursor
// stands on (or nothing if it is gone, or ErrIncompatibleValue on a
// bucket). After changes, unrepositioned moves are only run (they must
// not panic). Each transaction commits or rolls back, and the database
// is compared with the model after it, and after reopens. Small by
// default; -cursormodel.deep runs more.
func TestCursorModel(t *testing.T) {
	seeds, txs, ops := 1, 6, 300
	if *cursorModelDeep {
		seeds, txs, ops = 20, 30, 2000
	}
	cmSeeds(t, seeds, 0, func(r *cmRun, wal bool) {
		opts := &Options{PageSize: r.ps, NoSync: true}
		if wal {
			opts = &Options{PageSize: r.ps, NoSync: true, WAL: true, CheckpointBytes: 256 << 10}
		}
		r.run(tempPath(r.t), opts, txs, ops)
	})
}

// cmSeeds runs run for seeds seeds in each configuration of the cursor
// models (1 KiB pages direct and in WAL mode, 4 KiB pages direct), each
// with an cmRun of its own (salt tells one model's random choices from
// another's), and names the seed of the first failure.
func cmSeeds(t *testing.T, seeds int, salt uint64, run func(r *cmRun, wal bool)) {
	for _, tc := range []struct {
		ps  int
		wal bool
	}{{1024, false}, {1024, true}, {4096, false}} {
		t.Run(fmt.Sprintf("page=%d/wal=%v", tc.ps, tc.wal), func(t *testing.T) {
			base := testSeed(t)
			for s := range seeds {
				seed := base + uint64(s)
				r := &cmRun{t: t, rng: rand.New(rand.NewPCG(seed, uint64(tc.ps)+salt)), ps: tc.ps}
				func() {
					defer func() {
						if t.Failed() {
							t.Logf("failed with seed %d (rerun with -run '%s' -seed %d)", seed, t.Name(), seed)
						}
					}()
					run(r, tc.wal)
				}()
				if t.Failed() {
					return
				}
			}
		})
	}
}

type cmRun struct {
	t     *testing.T
	rng   *rand.Rand
	ps    int
	model *cmModel // as committed
	log   []string // the transaction's operations, for a failure
	wtx   *Tx      // the write transaction in progress
	vers  int
}

func (r *cmRun) fail(format string, args ...any) {
	r.t.Helper()
	n := 16
	if *cursorModelTrace {
		n = len(r.log)
	}
	r.t.Fatalf("%s; last ops: %v", fmt.Sprintf(format, args...), r.log[max(0, len(r.log)-n):])
}

func (r *cmRun) value() string {
	r.vers++
	n := r.rng.IntN(60)
	switch r.rng.IntN(20) {
	case 0:
		n = 0
	case 1:
		n = r.ps/4 + 1 + r.rng.IntN(r.ps) // a large value
	}
	v := fmt.Sprintf("v%d:", r.vers)
	return (v + strings.Repeat("x", n))[:max(n, len(v))]
}

func (r *cmRun) run(path string, opts *Options, txs, ops int) {
	t := r.t
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r.wtx != nil {
			_ = r.wtx.Rollback() // a failure in it: Close would wait
		}
		if db != nil {
			closeChecked(t, db)
		}
	}()
	r.start(db)
	for round := range txs {
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		r.wtx = tx
		m := r.model.clone()
		r.log = r.log[:0]
		r.txOps(tx, m, ops)
		if t.Failed() {
			return
		}
		r.wtx = nil
		if r.rng.IntN(3) == 0 {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := tx.Commit(); err != nil {
				t.Fatalf("round %d: commit: %v", round, err)
			}
			r.model = m
		}
		r.compare(db)
		if r.rng.IntN(4) == 0 {
			closeChecked(t, db)
			if db, err = Open(path, 0o600, opts); err != nil {
				db = nil
				t.Fatal(err)
			}
			r.compare(db)
		}
	}
}

// lose makes mc unknown after a change to its bucket not made through
// it, noting where it rested: call it before the model's keys move.
func (mc *cmCursor) lose(m *cmModel) {
	if mc.known {
		switch {
		case mc.deleted:
			mc.rest, mc.restNone, mc.restLost, mc.restAfter = mc.delKey, false, false, true
		case mc.pos >= 0 && mc.pos < len(m.keys):
			mc.rest, mc.restNone, mc.restLost, mc.restAfter = m.keys[mc.pos], false, false, false
		default:
			mc.restNone, mc.restLost, mc.restAfter = true, false, false
		}
	}
	mc.known = false
}

// randKey is a key of m or one near them.
func (r *cmRun) randKey(m *cmModel) string {
	if len(m.keys) > 0 && r.rng.IntN(2) == 0 {
		return m.keys[r.rng.IntN(len(m.keys))]
	}
	return cmKey(r.rng.IntN(1100))
}

// put puts k=v in b and m (a bucket's key: ErrIncompatibleValue),
// calling changed before m's keys move.
func (r *cmRun) put(b *Bucket, m *cmModel, k, v string, changed func()) {
	err := b.Put([]byte(k), []byte(v))
	if _, sub := m.subs[k]; sub {
		if !errors.Is(err, ErrIncompatibleValue) {
			r.fail("Put %q on a bucket: %v", k, err)
		}
		return
	}
	if err != nil {
		r.fail("Put %q: %v", k, err)
	}
	changed()
	m.kv[k] = v
	m.add(k)
}

// del deletes k from b and m (a bucket's key: ErrIncompatibleValue),
// calling changed before m's keys move.
func (r *cmRun) del(b *Bucket, m *cmModel, k string, changed func()) {
	err := b.Delete([]byte(k))
	if _, sub := m.subs[k]; sub {
		if !errors.Is(err, ErrIncompatibleValue) {
			r.fail("Delete %q on a bucket: %v", k, err)
		}
		return
	}
	if err != nil {
		r.fail("Delete %q: %v", k, err)
	}
	if _, ok := m.kv[k]; ok {
		changed()
		delete(m.kv, k)
		m.remove(k)
	}
}

// start commits bucket p/b with ~500 keys and makes r.model hold them: a
// committed start, leaves the first transaction reads as pages.
func (r *cmRun) start(db *DB) {
	r.model = &cmModel{kv: map[string]string{}, subs: map[string]map[string]string{}}
	mustUpdate(r.t, db, func(tx *Tx) error {
		p, err := tx.CreateBucket([]byte("p"))
		if err != nil {
			return err
		}
		b, err := p.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 1000; i += 1 + r.rng.IntN(3) {
			k, v := cmKey(i), r.value()
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
			r.model.kv[k] = v
			r.model.add(k)
		}
		return nil
	})
	r.compare(db)
}

// compare checks the committed database against r.model.
func (r *cmRun) compare(db *DB) {
	r.t.Helper()
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("p")).Bucket([]byte("b"))
		return r.compareBucket(b, r.model)
	})
	if err != nil {
		r.t.Fatalf("committed state: %v", err)
	}
}

// compareBucket checks b against m whole: both walk directions, ForEach,
// the nested buckets and the sequence.
func (r *cmRun) compareBucket(b *Bucket, m *cmModel) error {
	if b == nil {
		return errors.New("bucket p/b missing")
	}
	if b.Sequence() != m.seq {
		return fmt.Errorf("sequence %d, model %d", b.Sequence(), m.seq)
	}
	check := func(k, v []byte) error {
		if s, ok := m.subs[string(k)]; ok {
			if v != nil {
				return fmt.Errorf("bucket %q has value %q", k, v)
			}
			nb := b.Bucket(k)
			n := 0
			err := nb.ForEach(func(k, v []byte) error {
				n++
				if s[string(k)] != string(v) {
					return fmt.Errorf("nested %q: %q = %q, model %q", k, k, v, s[string(k)])
				}
				return nil
			})
			if err == nil && n != len(s) {
				err = fmt.Errorf("nested bucket %q: %d keys, model %d", k, n, len(s))
			}
			return err
		}
		if mv, ok := m.kv[string(k)]; !ok || v == nil || string(v) != mv {
			return fmt.Errorf("%q = %.20q (%d bytes), model %.20q (%v)", k, v, len(v), mv, ok)
		}
		return nil
	}
	c := b.Cursor()
	i := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if i >= len(m.keys) || string(k) != m.keys[i] {
			return fmt.Errorf("forward walk: key %d is %q, model %v", i, k, m.keys[i:min(i+1, len(m.keys))])
		}
		if err := check(k, v); err != nil {
			return err
		}
		i++
	}
	if i != len(m.keys) {
		return fmt.Errorf("forward walk: %d keys, model %d", i, len(m.keys))
	}
	i = len(m.keys) - 1
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if i < 0 || string(k) != m.keys[i] {
			return fmt.Errorf("backward walk: key %d is %q", i, k)
		}
		if err := check(k, v); err != nil {
			return err
		}
		i--
	}
	if i != -1 {
		return fmt.Errorf("backward walk stopped at %d", i)
	}
	i = 0
	err := b.ForEach(func(k, v []byte) error {
		if i >= len(m.keys) || string(k) != m.keys[i] {
			return fmt.Errorf("ForEach: key %d is %q", i, k)
		}
		i++
		return check(k, v)
	})
	if err == nil && i != len(m.keys) {
		err = fmt.Errorf("ForEach: %d keys, model %d", i, len(m.keys))
	}
	return err
}

// txOps runs n operations in tx against m.
func (r *cmRun) txOps(tx *Tx, m *cmModel, n int) {
	t := r.t
	b := tx.Bucket([]byte("p")).Bucket([]byte("b"))
	c := b.Cursor()
	mc := &cmCursor{pos: -1, known: true}
	// changed is called after a change to b not made through c.
	changed := func() { mc.lose(m) }
	randKey := func() string { return r.randKey(m) }
	put := func(k string) { r.put(b, m, k, r.value(), changed) }
	del := func(k string) { r.del(b, m, k, changed) }
	for range n {
		if t.Failed() {
			return
		}
		var op string
		switch x := r.rng.IntN(100); {
		case x < 14:
			k := randKey()
			op = "put " + k
			put(k)
		case x < 22:
			k := randKey()
			op = "delete " + k
			del(k)
		case x < 24: // a run of deletes: empties leaves
			i, _ := slices.BinarySearch(m.keys, randKey())
			cnt := 10 + r.rng.IntN(80)
			op = fmt.Sprintf("delete run of %d from %d", cnt, i)
			for _, k := range slices.Clone(m.keys[i:min(i+cnt, len(m.keys))]) {
				del(k)
			}
		case x < 26: // a run of puts: splits leaves
			start := r.rng.IntN(1100)
			cnt := 10 + r.rng.IntN(80)
			op = fmt.Sprintf("put run of %d from %d", cnt, start)
			for i := start; i < start+cnt; i++ {
				put(cmKey(i))
			}
		case x < 28:
			k := cmKey(r.rng.IntN(1100))
			op = "create bucket " + k
			_, err := b.CreateBucket([]byte(k))
			_, sub := m.subs[k]
			_, val := m.kv[k]
			switch {
			case sub && !errors.Is(err, ErrBucketExists), val && !errors.Is(err, ErrIncompatibleValue):
				r.fail("CreateBucket %q: %v", k, err)
			case sub || val:
			case err != nil:
				r.fail("CreateBucket %q: %v", k, err)
			default:
				changed()
				m.subs[k] = map[string]string{}
				m.add(k)
			}
		case x < 30:
			k := randKey()
			if len(m.subs) > 0 && r.rng.IntN(2) == 0 {
				k = slices.Sorted(maps.Keys(m.subs))[r.rng.IntN(len(m.subs))]
			}
			op = "delete bucket " + k
			err := b.DeleteBucket([]byte(k))
			_, sub := m.subs[k]
			_, val := m.kv[k]
			switch {
			case sub && err != nil, val && !errors.Is(err, ErrIncompatibleValue), !sub && !val && !errors.Is(err, ErrBucketNotFound):
				r.fail("DeleteBucket %q: %v", k, err)
			case sub:
				changed()
				delete(m.subs, k)
				m.remove(k)
			}
		case x < 32:
			if len(m.subs) == 0 {
				continue
			}
			k := slices.Sorted(maps.Keys(m.subs))[r.rng.IntN(len(m.subs))]
			nk, nv := fmt.Sprintf("n%03d", r.rng.IntN(50)), r.value()
			op = "put in bucket " + k
			if err := b.Bucket([]byte(k)).Put([]byte(nk), []byte(nv)); err != nil {
				r.fail("Put into %q: %v", k, err)
			}
			m.subs[k][nk] = nv // b's own tree is unchanged: the cursor stays known
		case x < 34:
			op = "sequence"
			if r.rng.IntN(2) == 0 {
				s, err := b.NextSequence()
				if err != nil || s != m.seq+1 {
					r.fail("NextSequence = %d, %v; model %d", s, err, m.seq+1)
				}
				m.seq = s
			} else {
				s := r.rng.Uint64N(1 << 40)
				if err := b.SetSequence(s); err != nil {
					r.fail("SetSequence: %v", err)
				}
				m.seq = s
			}
		case x < 40:
			k := randKey()
			op = "get " + k
			v := b.Get([]byte(k))
			if _, sub := m.subs[k]; sub {
				if v != nil || b.Bucket([]byte(k)) == nil {
					r.fail("Get %q of a bucket = %q", k, v)
				}
			} else if mv, ok := m.kv[k]; ok != (v != nil) || string(v) != mv {
				r.fail("Get %q = %.20q, model %.20q (%v)", k, v, mv, ok)
			}
		case x < 41:
			op = "compare"
			if err := r.compareBucket(b, m); err != nil {
				r.fail("in the transaction: %v", err)
			}
		case x < 44:
			op = r.cursorOp(m, c, mc, "first", "", nil)
		case x < 47:
			op = r.cursorOp(m, c, mc, "last", "", nil)
		case x < 55:
			sk := randKey()
			if r.rng.IntN(4) == 0 {
				sk = cmKey(r.rng.IntN(1100))[:5] // between keys
			}
			op = r.cursorOp(m, c, mc, "seek", sk, nil)
		case x < 88:
			op = r.cursorOp(m, c, mc, map[bool]string{true: "next", false: "prev"}[x < 73], "", nil)
		default:
			if op = r.cursorOp(m, c, mc, "delete", "", nil); op == "" {
				continue
			}
		}
		r.log = append(r.log, op)
		if *cursorModelTrace && !t.Failed() {
			if err := r.compareBucket(b, m); err != nil {
				r.fail("after the op: %v", err)
			}
		}
	}
	if t.Failed() {
		return
	}
	if err := r.compareBucket(b, m); err != nil {
		r.fail("at the end of the transaction: %v", err)
	}
}

// cursorOp moves c (what: first, last, seek to sk, next, prev) or
// deletes through it (delete), and checks the result against the model
// cursor mc on m. Before a delete changes m's keys it calls changed (nil:
// no other cursor to tell). It returns what to log, or "" for a delete
// it did not try (the model cannot tell where the cursor rests).
func (r *cmRun) cursorOp(m *cmModel, c *Cursor, mc *cmCursor, what, sk string, changed func()) string {
	am := func() *apiCursor { return &apiCursor{keys: m.keys, pos: mc.pos, deleted: mc.deleted} }
	from := func(a *apiCursor) { mc.pos, mc.deleted = a.pos, a.deleted }
	var k, v []byte
	var want string
	var ok bool
	switch what {
	case "first":
		k, v = c.First()
		a := am()
		want, ok = a.first()
		from(a)
	case "last":
		k, v = c.Last()
		a := am()
		want, ok = a.last()
		from(a)
	case "seek":
		what = "seek " + sk
		k, v = c.Seek([]byte(sk))
		a := am()
		want, ok = a.seek(sk)
		from(a)
	case "next", "prev":
		if what == "next" {
			k, v = c.Next()
		} else {
			k, v = c.Prev()
		}
		if !mc.known {
			// Not exact (README); but Delete removes what it returned.
			if k != nil {
				mc.rest, mc.restNone, mc.restLost, mc.restAfter = string(k), false, false, false
			} else {
				mc.restLost = true
			}
			return what
		}
		a := am()
		if what == "next" {
			want, ok = a.next()
		} else {
			want, ok = a.prev()
		}
		from(a)
	case "delete":
		return r.cursorDelete(m, c, mc, changed)
	default:
		panic(what)
	}
	mc.known = true
	r.got(m, what, k, v, want, ok)
	return what
}

// got checks a known cursor's result against the model's.
func (r *cmRun) got(m *cmModel, op string, k, v []byte, want string, ok bool) {
	if ok != (k != nil) || string(k) != want {
		r.fail("%s = %q, model %q (%v)", op, k, want, ok)
	}
	if !ok {
		return
	}
	if _, sub := m.subs[want]; sub {
		if v != nil {
			r.fail("%s: bucket %q has a value", op, want)
		}
	} else if v == nil || string(v) != m.kv[want] {
		r.fail("%s: %q = %.20q (%d bytes), model %d bytes", op, want, v, len(v), len(m.kv[want]))
	}
}

// cursorDelete is cursorOp's delete.
func (r *cmRun) cursorDelete(m *cmModel, c *Cursor, mc *cmCursor, changed func()) string {
	op := "cursor delete"
	if !mc.known && mc.restLost {
		return ""
	}
	if changed == nil {
		changed = func() {}
	}
	var target string
	on := false
	if mc.known {
		target, on = (&apiCursor{keys: m.keys, pos: mc.pos, deleted: mc.deleted}).at()
		if mc.pos < 0 {
			on = false
		}
	} else if mc.restAfter {
		i, found := slices.BinarySearch(m.keys, mc.rest)
		if found {
			i++
		}
		if i < len(m.keys) {
			target, on = m.keys[i], true
		}
	} else if !mc.restNone {
		target, on = mc.rest, true
	}
	_, sub := m.subs[target]
	_, val := m.kv[target]
	err := c.Delete()
	switch {
	case on && sub:
		if !errors.Is(err, ErrIncompatibleValue) {
			r.fail("cursor delete of bucket %q: %v", target, err)
		}
	case err != nil:
		r.fail("cursor delete of %q (%v): %v", target, on, err)
	case on && mc.known:
		changed()
		delete(m.kv, target)
		m.keys = slices.Delete(m.keys, mc.pos, mc.pos+1)
		mc.deleted, mc.delKey = true, target
	case on:
		// Found by key (or gone already, and nothing is deleted): the
		// cursor now rests before the key that followed it.
		if val {
			changed()
			delete(m.kv, target)
			m.remove(target)
		}
		mc.pos, _ = slices.BinarySearch(m.keys, target)
		mc.known, mc.deleted, mc.delKey = true, true, target
	}
	if on && !sub {
		op += " " + target
	}
	return op
}
