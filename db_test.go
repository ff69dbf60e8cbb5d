package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed for randomized tests (0: random, logged)")
	roundsMul = flag.Int("rounds", 1, "multiply the rounds of randomized tests")
)

func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// mbucket is the model of a bucket: plain maps.
type mbucket struct {
	kv   map[string]string
	subs map[string]*mbucket
	seq  uint64
}

func newMBucket() *mbucket {
	return &mbucket{kv: map[string]string{}, subs: map[string]*mbucket{}}
}

func (m *mbucket) clone() *mbucket {
	c := newMBucket()
	c.seq = m.seq
	for k, v := range m.kv {
		c.kv[k] = v
	}
	for k, s := range m.subs {
		c.subs[k] = s.clone()
	}
	return c
}

// keys returns every key (values and nested buckets) in order.
func (m *mbucket) keys() []string {
	var ks []string
	for k := range m.kv {
		ks = append(ks, k)
	}
	for k := range m.subs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// compareBucket checks b against m, recursively.
func compareBucket(t *testing.T, where string, b *Bucket, m *mbucket) {
	t.Helper()
	if b.Sequence() != m.seq {
		t.Fatalf("%s: sequence %d, model %d", where, b.Sequence(), m.seq)
	}
	want := m.keys()
	var got []string
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		got = append(got, string(k))
		if sub, ok := m.subs[string(k)]; ok {
			if v != nil {
				t.Fatalf("%s: nested bucket %q has a value", where, k)
			}
			nb := b.Bucket(k)
			if nb == nil {
				t.Fatalf("%s: nested bucket %q missing", where, k)
			}
			compareBucket(t, where+"/"+string(k), nb, sub)
			continue
		}
		if mv, ok := m.kv[string(k)]; !ok || mv != string(v) {
			t.Fatalf("%s: key %q = %d bytes, model has %v (%d bytes)", where, k, len(v), ok, len(mv))
		}
		if gv := b.Get(k); !bytes.Equal(gv, v) {
			t.Fatalf("%s: Get(%q) differs from the cursor", where, k)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: keys %v, model %v", where, got, want)
	}
	// Backwards too.
	var back []string
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		back = append(back, string(k))
	}
	slices.Reverse(back)
	if !slices.Equal(back, want) {
		t.Fatalf("%s: reverse walk %v, model %v", where, back, want)
	}
}

func compareDB(t *testing.T, db *DB, m *mbucket) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		var names []string
		if err := tx.ForEach(func(name []byte, b *Bucket) error {
			names = append(names, string(name))
			sub, ok := m.subs[string(name)]
			if !ok {
				return fmt.Errorf("unexpected bucket %q", name)
			}
			compareBucket(t, string(name), b, sub)
			return nil
		}); err != nil {
			return err
		}
		if want := m.keys(); !slices.Equal(names, want) {
			return fmt.Errorf("top-level buckets %v, model %v", names, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRandomizedModel runs random transactions against folio and a plain
// map model, comparing everything after every transaction, with
// rollbacks, cursor deletes, nested buckets, large values and reopens.
func TestRandomizedModel(t *testing.T) {
	for _, ps := range []int{1024, 4096} {
		t.Run(fmt.Sprintf("page=%d", ps), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), uint64(ps)))
			db := openTest(t, &Options{PageSize: ps, NoSync: true})
			model := newMBucket()
			rounds := 120 * *roundsMul
			for round := 0; round < rounds; round++ {
				// A reader holding the pre-transaction snapshot.
				var reader *Tx
				var readerModel *mbucket
				if rng.IntN(4) == 0 {
					var err error
					if reader, err = db.Begin(false); err != nil {
						t.Fatal(err)
					}
					readerModel = model.clone()
				}
				next := model.clone()
				commit := rng.IntN(8) != 0
				err := db.Update(func(tx *Tx) error {
					for i, n := 0, 1+rng.IntN(60); i < n; i++ {
						if err := randomOp(rng, tx, next, ps); err != nil {
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
				compareDB(t, db, model)
				if reader != nil {
					// The reader still sees its snapshot.
					for name, sub := range readerModel.subs {
						b := reader.Bucket([]byte(name))
						if b == nil {
							t.Fatalf("round %d: reader lost bucket %q", round, name)
						}
						compareBucket(t, "reader:"+name, b, sub)
					}
					if err := reader.Rollback(); err != nil {
						t.Fatal(err)
					}
				}
				if rng.IntN(15) == 0 {
					db = reopen(t, db, &Options{NoSync: true})
					compareDB(t, db, model)
				}
			}
		})
	}
}

var errRollback = errors.New("rollback requested")

// randomOp applies one random operation to tx and the model m.
func randomOp(rng *rand.Rand, tx *Tx, m *mbucket, ps int) error {
	// Pick a bucket: walk down from the top level.
	path := []string{}
	cur := m
	var b *Bucket
	if len(m.subs) == 0 || rng.IntN(10) == 0 {
		name := fmt.Sprintf("b%d", rng.IntN(4))
		if _, isVal := m.kv[name]; !isVal {
			nb, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if _, ok := m.subs[name]; !ok {
				m.subs[name] = newMBucket()
			}
			b, cur, path = nb, m.subs[name], []string{name}
		}
	}
	if b == nil {
		names := m.keys()
		name := names[rng.IntN(len(names))]
		b, cur, path = tx.Bucket([]byte(name)), m.subs[name], []string{name}
		if b == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
	}
	for len(cur.subs) > 0 && rng.IntN(2) == 0 {
		var subs []string
		for k := range cur.subs {
			subs = append(subs, k)
		}
		sort.Strings(subs)
		name := subs[rng.IntN(len(subs))]
		b, cur, path = b.Bucket([]byte(name)), cur.subs[name], append(path, name)
		if b == nil {
			return fmt.Errorf("bucket %v missing", path)
		}
	}
	where := strings.Join(path, "/")
	key := fmt.Sprintf("k%04d", rng.IntN(600))
	switch r := rng.IntN(100); {
	case r < 50: // put
		n := rng.IntN(64)
		switch rng.IntN(30) {
		case 0:
			n = ps/4 + rng.IntN(4*ps) // large value, out of line
		case 1:
			n = 0
		}
		v := make([]byte, n)
		// A fifth of the values stay zero bytes: a run of them trims to
		// less than its page header in a WAL record.
		if rng.IntN(5) != 0 {
			for i := range v {
				v[i] = byte(rng.IntN(256))
			}
		}
		err := b.Put([]byte(key), v)
		if _, isSub := cur.subs[key]; isSub {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: put over bucket %q: %v", where, key, err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		cur.kv[key] = string(v)
		clear(v) // Put copied it
	case r < 70: // delete
		err := b.Delete([]byte(key))
		if _, isSub := cur.subs[key]; isSub {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: delete of bucket %q: %v", where, key, err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		delete(cur.kv, key)
	case r < 76: // create nested bucket
		name := fmt.Sprintf("k%04d", rng.IntN(600))
		_, err := b.CreateBucket([]byte(name))
		switch {
		case cur.subs[name] != nil:
			if !errors.Is(err, ErrBucketExists) {
				return fmt.Errorf("%s: create existing %q: %v", where, name, err)
			}
		case cur.kv[name] != "" || hasKey(cur.kv, name):
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: create over value %q: %v", where, name, err)
			}
		case err != nil:
			return err
		default:
			cur.subs[name] = newMBucket()
		}
	case r < 79: // delete a nested bucket
		for name := range cur.subs {
			if err := b.DeleteBucket([]byte(name)); err != nil {
				return err
			}
			delete(cur.subs, name)
			break
		}
	case r < 84: // sequence
		s, err := b.NextSequence()
		if err != nil {
			return err
		}
		cur.seq++
		if s != cur.seq {
			return fmt.Errorf("%s: NextSequence %d, model %d", where, s, cur.seq)
		}
	case r < 92: // cursor walk from a seek, deleting some
		c := b.Cursor()
		want := cur.keys()
		i := sort.SearchStrings(want, key)
		k, _ := c.Seek([]byte(key))
		for steps := 0; steps < 20; steps++ {
			if i >= len(want) {
				if k != nil {
					return fmt.Errorf("%s: cursor at %q past the model's end", where, k)
				}
				break
			}
			if string(k) != want[i] {
				return fmt.Errorf("%s: cursor at %q, model %q", where, k, want[i])
			}
			if _, isVal := cur.kv[want[i]]; isVal && rng.IntN(3) == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
				delete(cur.kv, want[i])
			}
			k, _ = c.Next()
			i++
		}
	case r < 96: // walk backwards
		c := b.Cursor()
		want := cur.keys()
		i := len(want) - 1
		for k, _ := c.Last(); k != nil && i >= 0; k, _ = c.Prev() {
			if string(k) != want[i] {
				return fmt.Errorf("%s: reverse cursor at %q, model %q", where, k, want[i])
			}
			i--
		}
	default: // get
		v := b.Get([]byte(key))
		mv, ok := cur.kv[key]
		if ok != (v != nil) || string(v) != mv {
			return fmt.Errorf("%s: Get(%q) = %d bytes (nil=%v), model %v", where, key, len(v), v == nil, ok)
		}
	}
	return nil
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }
