package folio

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// nestedOps drives random operations on nested buckets several levels
// deep and on their model. Buckets are found by path from the top level
// on every operation, so handles opened earlier in the transaction are
// reused the way a program would reuse them.
type nestedOps struct {
	rng *rand.Rand
	ps  int
}

// pick returns a random existing bucket path (nil: the top level).
func (o *nestedOps) pick(m *mbucket) []string {
	var path []string
	cur := m
	for len(cur.subs) > 0 && (len(path) == 0 || o.rng.IntN(3) != 0) {
		names := slices.Sorted(maps.Keys(cur.subs))
		name := names[o.rng.IntN(len(names))]
		path = append(path, name)
		cur = cur.subs[name]
	}
	return path
}

func walkModel(m *mbucket, path []string) *mbucket {
	for _, p := range path {
		m = m.subs[p]
	}
	return m
}

func walkTx(tx *Tx, path []string) (*Bucket, error) {
	var b *Bucket
	for i, p := range path {
		if i == 0 {
			b = tx.Bucket([]byte(p))
		} else {
			b = b.Bucket([]byte(p))
		}
		if b == nil {
			return nil, fmt.Errorf("bucket %v missing", path[:i+1])
		}
	}
	return b, nil
}

// value returns a random value: mostly small, some empty, some large
// (out of line), some at the line between the two.
func (o *nestedOps) value() []byte {
	var n int
	switch r := o.rng.IntN(20); {
	case r < 3:
		n = o.ps/4 + 1 + o.rng.IntN(3*o.ps) // large
	case r == 3:
		n = o.ps/4 - 1 + o.rng.IntN(3) // either side of LargeThreshold
	case r == 4:
		n = 0
	default:
		n = o.rng.IntN(80)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(o.rng.IntN(256))
	}
	return v
}

// key returns a random key: short names from a small set (so puts,
// buckets and deletes collide), now and then a long one.
func (o *nestedOps) key() string {
	k := fmt.Sprintf("k%03d", o.rng.IntN(200))
	if o.rng.IntN(25) == 0 {
		k += strings.Repeat("L", o.rng.IntN(3*o.ps))
	}
	return k
}

func (o *nestedOps) op(tx *Tx, m *mbucket) error {
	path := o.pick(m)
	cur := walkModel(m, path)
	var b *Bucket
	if len(path) > 0 {
		var err error
		if b, err = walkTx(tx, path); err != nil {
			return err
		}
	}
	where := "/" + strings.Join(path, "/")
	create := func(name string) (*Bucket, error) {
		if b == nil {
			return tx.CreateBucket([]byte(name))
		}
		return b.CreateBucket([]byte(name))
	}
	r := o.rng.IntN(100)
	if b == nil && r < 60 {
		r = 60 // the top level holds only buckets
	}
	switch {
	case r < 35: // put
		k, v := o.key(), o.value()
		err := b.Put([]byte(k), v)
		if _, sub := cur.subs[k]; sub {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: put over bucket %q: %v", where, k, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: put: %w", where, err)
		}
		cur.kv[k] = string(v)
	case r < 45: // delete a key
		k := o.key()
		if len(cur.kv) > 0 && o.rng.IntN(2) == 0 {
			k = slices.Sorted(maps.Keys(cur.kv))[o.rng.IntN(len(cur.kv))]
		}
		err := b.Delete([]byte(k))
		if _, sub := cur.subs[k]; sub {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: delete of bucket %q: %v", where, k, err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		delete(cur.kv, k)
	case r < 50: // delete a run of keys, or all: pages merge, trees empty
		keys := slices.Sorted(maps.Keys(cur.kv))
		if len(keys) == 0 {
			return nil
		}
		lo := o.rng.IntN(len(keys))
		hi := min(len(keys), lo+o.rng.IntN(len(keys)+1))
		if o.rng.IntN(3) == 0 {
			lo, hi = 0, len(keys)
		}
		for _, k := range keys[lo:hi] {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
			delete(cur.kv, k)
		}
	case r < 55: // sequence
		if o.rng.IntN(3) == 0 {
			v := o.rng.Uint64N(1000)
			if err := b.SetSequence(v); err != nil {
				return err
			}
			cur.seq = v
			return nil
		}
		s, err := b.NextSequence()
		if err != nil {
			return err
		}
		cur.seq++
		if s != cur.seq {
			return fmt.Errorf("%s: NextSequence %d, model %d", where, s, cur.seq)
		}
	case r < 60: // ForEach against the model
		var got []string
		if err := b.ForEach(func(k, v []byte) error {
			got = append(got, string(k))
			if _, sub := cur.subs[string(k)]; sub {
				if v != nil {
					return fmt.Errorf("%s: ForEach: bucket %q has a value", where, k)
				}
			} else if mv, ok := cur.kv[string(k)]; !ok || mv != string(v) {
				return fmt.Errorf("%s: ForEach: %q differs", where, k)
			}
			return nil
		}); err != nil {
			return err
		}
		if want := cur.keys(); !slices.Equal(got, want) {
			return fmt.Errorf("%s: ForEach %d keys, model %d", where, len(got), len(want))
		}
	case r < 75: // create a bucket, and fill it some
		name := o.key()
		nb, err := create(name)
		switch {
		case cur.subs[name] != nil:
			if !errors.Is(err, ErrBucketExists) {
				return fmt.Errorf("%s: create existing %q: %v", where, name, err)
			}
			return nil
		case hasKey(cur.kv, name):
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: create over value %q: %v", where, name, err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("%s: create %q: %w", where, name, err)
		}
		sub := newMBucket()
		cur.subs[name] = sub
		for i := o.rng.IntN(30); i > 0; i-- {
			k, v := o.key(), o.value()
			if err := nb.Put([]byte(k), v); err != nil {
				return err
			}
			sub.kv[k] = string(v)
		}
	case r < 85: // delete a bucket, maybe recreate it at once
		if len(cur.subs) == 0 {
			return nil
		}
		name := slices.Sorted(maps.Keys(cur.subs))[o.rng.IntN(len(cur.subs))]
		var err error
		if b == nil {
			err = tx.DeleteBucket([]byte(name))
		} else {
			err = b.DeleteBucket([]byte(name))
		}
		if err != nil {
			return fmt.Errorf("%s: delete bucket %q: %w", where, name, err)
		}
		delete(cur.subs, name)
		if o.rng.IntN(2) == 0 {
			nb, err := create(name)
			if err != nil {
				return fmt.Errorf("%s: recreate %q: %w", where, name, err)
			}
			sub := newMBucket()
			cur.subs[name] = sub
			for i := o.rng.IntN(20); i > 0; i-- {
				k, v := o.key(), o.value()
				if err := nb.Put([]byte(k), v); err != nil {
					return err
				}
				sub.kv[k] = string(v)
			}
		}
	default: // move a bucket somewhere else
		if len(cur.subs) == 0 {
			return nil
		}
		name := slices.Sorted(maps.Keys(cur.subs))[o.rng.IntN(len(cur.subs))]
		dpath := o.pick(m)
		if o.rng.IntN(4) == 0 {
			dpath = nil
		}
		dst, err := walkTx(tx, dpath)
		if err != nil {
			return err
		}
		err = tx.MoveBucket([]byte(name), b, dst)
		dcur := walkModel(m, dpath)
		if _, err := applyModelMove(where, name, path, dpath, cur, dcur, err); err != nil {
			return err
		}
	}
	return nil
}

// applyModelMove checks err, what moving bucket name from cur (at path)
// into dcur (at dpath) returned, against the model's expectation, and
// applies the move to the model if it succeeded (done).
func applyModelMove(where, name string, path, dpath []string, cur, dcur *mbucket, err error) (done bool, _ error) {
	moved := append(slices.Clone(path), name)
	switch {
	case slices.Equal(path, dpath):
		if !errors.Is(err, ErrSameBuckets) {
			return false, fmt.Errorf("%s: move %q into the same bucket: %v", where, name, err)
		}
	case len(dpath) >= len(moved) && slices.Equal(dpath[:len(moved)], moved):
		if !errors.Is(err, ErrSameBuckets) {
			return false, fmt.Errorf("%s: move %q into itself (%v): %v", where, name, dpath, err)
		}
	case dcur.subs[name] != nil:
		if !errors.Is(err, ErrBucketExists) {
			return false, fmt.Errorf("%s: move %q onto a bucket: %v", where, name, err)
		}
	case hasKey(dcur.kv, name):
		if !errors.Is(err, ErrIncompatibleValue) {
			return false, fmt.Errorf("%s: move %q onto a value: %v", where, name, err)
		}
	case err != nil:
		return false, fmt.Errorf("%s: move %q to %v: %w", where, name, dpath, err)
	default:
		dcur.subs[name] = cur.subs[name]
		delete(cur.subs, name)
		return true, nil
	}
	return false, nil
}

// compareTree checks every bucket against the model through Get,
// cursors (compareBucket), ForEachBucket and sequences.
func compareTree(t *testing.T, db *DB, m *mbucket) {
	t.Helper()
	compareDB(t, db, m)
	err := db.View(func(tx *Tx) error {
		var rec func(b *Bucket, m *mbucket, where string) error
		rec = func(b *Bucket, m *mbucket, where string) error {
			var names []string
			if err := b.ForEachBucket(func(k []byte) error {
				names = append(names, string(k))
				return nil
			}); err != nil {
				return err
			}
			if want := slices.Sorted(maps.Keys(m.subs)); !slices.Equal(names, want) {
				return fmt.Errorf("%s: ForEachBucket %v, model %v", where, names, want)
			}
			for k, v := range m.kv {
				if got := b.Get([]byte(k)); got == nil || !bytes.Equal(got, []byte(v)) {
					return fmt.Errorf("%s: Get(%.10q) differs", where, k)
				}
			}
			for name, sub := range m.subs {
				if b.Get([]byte(name)) != nil {
					return fmt.Errorf("%s: Get of bucket %q not nil", where, name)
				}
				if err := rec(b.Bucket([]byte(name)), sub, where+"/"+name); err != nil {
					return err
				}
			}
			return nil
		}
		for name, sub := range m.subs {
			if err := rec(tx.Bucket([]byte(name)), sub, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNestedBucketsModel runs random transactions over buckets nested
// several levels deep, with large values and long keys, bucket deletes
// (and recreations in the same transaction), moves, runs of deletes that
// merge and empty trees, rollbacks and reopens; after every transaction
// the database is compared with the model and checked.
func TestNestedBucketsModel(t *testing.T) {
	for _, tc := range []struct {
		ps  int
		wal bool
	}{{1024, false}, {4096, false}, {1024, true}} {
		ps := tc.ps
		t.Run(fmt.Sprintf("page=%d/wal=%v", ps, tc.wal), func(t *testing.T) {
			o := &nestedOps{rng: rand.New(rand.NewPCG(testSeed(t), uint64(ps))), ps: ps}
			db := openTest(t, &Options{PageSize: ps, NoSync: true, WAL: tc.wal})
			model := newMBucket()
			// Readers kept open over several commits still see their
			// snapshot: pages freed under them (bucket deletes, large
			// values replaced) are not reused while they live.
			type reader struct {
				tx    *Tx
				model *mbucket
				until int
			}
			var readers []reader
			tally := inlineTally{ps: ps}
			endReaders := func(round int, all bool) {
				t.Helper()
				kept := readers[:0]
				for _, r := range readers {
					if !all && round < r.until {
						kept = append(kept, r)
						continue
					}
					for name, sub := range r.model.subs {
						b := r.tx.Bucket([]byte(name))
						if b == nil {
							t.Fatalf("round %d: reader lost bucket %q", round, name)
						}
						compareBucket(t, "reader:"+name, b, sub)
					}
					if err := r.tx.Rollback(); err != nil {
						t.Fatal(err)
					}
				}
				readers = kept
			}
			for round := 0; round < 80**roundsMul; round++ {
				if o.rng.IntN(5) == 0 {
					tx, err := db.Begin(false)
					if err != nil {
						t.Fatal(err)
					}
					readers = append(readers, reader{tx, model.clone(), round + 1 + o.rng.IntN(6)})
				}
				next := model.clone()
				commit := o.rng.IntN(6) != 0
				err := db.Update(func(tx *Tx) error {
					for i, n := 0, 1+o.rng.IntN(40); i < n; i++ {
						if err := o.op(tx, next); err != nil {
							return err
						}
					}
					if !commit {
						return errRollback
					}
					return nil
				})
				switch {
				case commit && err != nil:
					t.Fatalf("round %d: %v", round, err)
				case !commit && !errors.Is(err, errRollback):
					t.Fatalf("round %d: rollback: %v", round, err)
				case commit:
					model = next
				}
				compareTree(t, db, model)
				mustCheck(t, db)
				tally.observe(t, db, model)
				if t.Failed() {
					t.Fatalf("round %d", round)
				}
				endReaders(round, false)
				if o.rng.IntN(10) == 0 {
					endReaders(round, true)
					db = reopen(t, db, &Options{NoSync: true, WAL: tc.wal})
					compareTree(t, db, model)
				}
			}
			endReaders(0, true)
			// Small buckets go inline and come out as they grow, gain a
			// nested bucket or shrink again.
			t.Logf("buckets moved inline %d times, out %d times; %d inline observed", tally.in, tally.out, tally.inline)
			if tally.in == 0 || tally.out == 0 {
				t.Errorf("no bucket crossed the inline bound both ways (in %d, out %d)", tally.in, tally.out)
			}
		})
	}
}
