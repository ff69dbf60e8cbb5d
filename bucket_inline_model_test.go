package folio

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
)

// TestBucketInlineModel runs random transactions over many small buckets
// (a few short keys each, so most are stored inline and cross the bound
// often), nested a few levels, against the map model: puts of values
// either side of what keeps a bucket inline, large values put into a
// small bucket and deleted, nested buckets created under an inline one
// and deleted, sequences, moves, bucket deletes, cursor sessions in the
// write transaction (Seek, Next, Prev, Delete, a Put mid-walk, First and
// Last on an empty bucket), rollbacks. Readers begun earlier keep values
// they read over later commits (which grow the file and map it anew) and
// check them when they end. After every commit: the whole tree against
// the model, Check, and each bucket's Stats against what the model says
// is inline; now and then a reopen, and in WAL mode a copy of the file and
// its log taken while open, which replays the log, in either record kind.
func TestBucketInlineModel(t *testing.T) {
	for _, tc := range []struct {
		ps         int
		wal        bool
		imageLimit int
	}{
		{1024, false, 0}, {4096, false, 0}, {2048, false, 0},
		{1024, true, recordsLimit["images"]}, {1024, true, recordsLimit["operations"]},
		{4096, true, recordsLimit["operations"]},
	} {
		name := fmt.Sprintf("page=%d/wal=%v", tc.ps, tc.wal)
		if tc.wal {
			name += fmt.Sprintf("/images=%v", tc.imageLimit > 0)
		}
		t.Run(name, func(t *testing.T) {
			seed := testSeed(t)
			m := &inlineModel{
				t:   t,
				rng: rand.New(rand.NewPCG(seed, uint64(tc.ps)^boolBit(tc.wal)<<20^uint64(tc.imageLimit&0xff))),
				ps:  tc.ps,
			}
			opts := &Options{PageSize: tc.ps, NoSync: true, WAL: tc.wal, CheckpointBytes: 32 << 10}
			db := openTest(t, opts)
			db.WALImageLimit = tc.imageLimit
			model := newMBucket()
			tally := inlineTally{ps: tc.ps}
			var readers []*inlineReader
			endReaders := func(round int, all bool) {
				t.Helper()
				kept := readers[:0]
				for _, r := range readers {
					if !all && round < r.until {
						kept = append(kept, r)
						continue
					}
					r.finish(t, round)
				}
				readers = kept
			}
			defer func() {
				for _, r := range readers {
					_ = r.tx.Rollback()
				}
			}()
			rounds := 150 * *roundsMul
			for round := 0; round < rounds; round++ {
				if m.rng.IntN(4) == 0 {
					readers = append(readers, m.newReader(t, db, model, round))
				}
				next := model.clone()
				commit := m.rng.IntN(7) != 0
				var history []string
				err := db.Update(func(tx *Tx) error {
					m.handles = map[string]*Bucket{}
					for i, n := 0, 1+m.rng.IntN(30); i < n; i++ {
						what, err := m.op(tx, next)
						history = append(history, what)
						if err != nil {
							return fmt.Errorf("op %d (%s): %w", i, what, err)
						}
					}
					if !commit {
						return errRollback
					}
					return nil
				})
				switch {
				case commit && err != nil:
					t.Fatalf("round %d: %v\nops: %s\nrerun with -seed %d", round, err, strings.Join(history, "; "), seed)
				case !commit && !errors.Is(err, errRollback):
					t.Fatalf("round %d: rollback: %v\nops: %s\nrerun with -seed %d", round, err, strings.Join(history, "; "), seed)
				case commit:
					model = next
				}
				compareTree(t, db, model)
				mustCheck(t, db)
				m.checkStats(t, db, model)
				tally.observe(t, db, model)
				if t.Failed() {
					t.Fatalf("round %d: ops: %s\nrerun with -seed %d", round, strings.Join(history, "; "), seed)
				}
				endReaders(round, false)
				switch x := m.rng.IntN(12); {
				case x == 0:
					endReaders(round, true)
					// Now and then read only, or rebuilding the free
					// list from the trees, before the next commits.
					switch m.rng.IntN(3) {
					case 0:
						db = reopen(t, db, &Options{ReadOnly: true, WAL: tc.wal})
						compareTree(t, db, model)
						m.checkStats(t, db, model)
					case 1:
						db = reopen(t, db, &Options{NoFreelistSync: true, NoSync: true, WAL: tc.wal})
						compareTree(t, db, model)
					}
					db = reopen(t, db, opts)
					db.WALImageLimit = tc.imageLimit
					compareTree(t, db, model)
				case x < 3 && tc.wal:
					// A copy taken while open replays the log.
					cp := filepath.Join(t.TempDir(), "copy.db")
					copyFile(t, db.Path(), cp)
					copyDir(t, LogDir(db.Path()), LogDir(cp))
					c, err := Open(cp, 0o600, &Options{WAL: true, NoSync: true})
					if err != nil {
						t.Fatalf("round %d: open the copy: %v", round, err)
					}
					compareTree(t, c, model)
					m.checkStats(t, c, model)
					closeChecked(t, c)
					if t.Failed() {
						t.Fatalf("round %d: the replayed copy differs: ops: %s\nrerun with -seed %d", round, strings.Join(history, "; "), seed)
					}
				}
			}
			endReaders(0, true)
			t.Logf("ops: %v; inline observed %d times, paged %d; buckets moved inline %d times, out %d times", m.ops, m.inline, m.paged, tally.in, tally.out)
			if tally.in == 0 || tally.out == 0 {
				t.Errorf("no bucket crossed the inline bound both ways (in %d, out %d)", tally.in, tally.out)
			}
		})
	}
}

// inlineModel is one run of TestBucketInlineModel.
type inlineModel struct {
	t   *testing.T
	rng *rand.Rand
	ps  int
	// handles are buckets opened earlier in the transaction, by path,
	// reused as a program would (forgotten at a delete or move).
	handles map[string]*Bucket
	ops     map[string]int
	// Stats observations: buckets without nested ones inline, and with
	// pages.
	inline, paged int
}

// key returns one of a few short keys, so a bucket holds a handful and
// puts, deletes and buckets collide.
func (m *inlineModel) key() string { return fmt.Sprintf("k%02d", m.rng.IntN(12)) }

// value returns a value: mostly small, some sized so that the element
// alone nearly fills an inline leaf or just passes it, some large.
func (m *inlineModel) value() []byte {
	limit := page.InlineMax(m.ps) - page.HeaderSize - page.HintSize - page.LeafElemSize - 3
	var n int
	switch x := m.rng.IntN(30); {
	case x == 0:
		n = limit - 1 + m.rng.IntN(3) // at the bound, alone in the leaf
	case x == 1:
		n = btree.LargeThreshold(m.ps) - 1 + m.rng.IntN(3) // at the large-value threshold
	case x == 2:
		n = btree.LargeThreshold(m.ps) + 1 + m.rng.IntN(2*m.ps) // large
	case x < 6:
		n = limit/2 + m.rng.IntN(limit/2)
	default:
		n = m.rng.IntN(limit / 6)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(m.rng.IntN(256))
	}
	return v
}

// pick returns a random bucket path, never the top level.
func (m *inlineModel) pick(root *mbucket) []string {
	var path []string
	cur := root
	for len(cur.subs) > 0 && (len(path) == 0 || m.rng.IntN(3) != 0) {
		names := slices.Sorted(maps.Keys(cur.subs))
		name := names[m.rng.IntN(len(names))]
		path = append(path, name)
		cur = cur.subs[name]
	}
	return path
}

// open returns the bucket at path, from handles or opened afresh.
func (m *inlineModel) open(tx *Tx, path []string) (*Bucket, error) {
	key := strings.Join(path, "/")
	if b, ok := m.handles[key]; ok && m.rng.IntN(3) != 0 {
		return b, nil
	}
	b, err := walkTx(tx, path)
	if err == nil {
		m.handles[key] = b
	}
	return b, err
}

func (m *inlineModel) count(what string) string {
	if m.ops == nil {
		m.ops = map[string]int{}
	}
	m.ops[what]++
	return what
}

// op runs one random operation on tx and root, its model; it returns
// what it did.
func (m *inlineModel) op(tx *Tx, root *mbucket) (string, error) {
	if len(root.subs) < 3 || m.rng.IntN(15) == 0 {
		name := fmt.Sprintf("b%d", m.rng.IntN(8))
		what := m.count("create top") + " " + name
		b, err := tx.CreateBucket([]byte(name))
		if root.subs[name] != nil {
			if !errors.Is(err, ErrBucketExists) {
				return what, fmt.Errorf("create existing: %v", err)
			}
			return what, nil
		}
		if err != nil {
			return what, err
		}
		root.subs[name] = newMBucket()
		if m.rng.IntN(2) == 0 {
			k, v := m.key(), m.value()
			root.subs[name].kv[k] = string(v)
			return what, b.Put([]byte(k), v)
		}
		return what, nil
	}
	path := m.pick(root)
	cur := walkModel(root, path)
	b, err := m.open(tx, path)
	if err != nil {
		return "open " + strings.Join(path, "/"), err
	}
	where := strings.Join(path, "/")
	switch x := m.rng.IntN(100); {
	case x < 30:
		k, v := m.key(), m.value()
		what := m.count("put") + fmt.Sprintf(" %s %s (%d bytes)", where, k, len(v))
		err := b.Put([]byte(k), v)
		if cur.subs[k] != nil {
			if !errors.Is(err, ErrIncompatibleValue) {
				return what, fmt.Errorf("put over a bucket: %v", err)
			}
			return what, nil
		}
		cur.kv[k] = string(v)
		return what, err
	case x < 42:
		k := m.key()
		what := m.count("delete") + " " + where + " " + k
		err := b.Delete([]byte(k))
		if cur.subs[k] != nil {
			if !errors.Is(err, ErrIncompatibleValue) {
				return what, fmt.Errorf("delete of a bucket: %v", err)
			}
			return what, nil
		}
		delete(cur.kv, k)
		return what, err
	case x < 48:
		what := m.count("sequence") + " " + where
		if m.rng.IntN(2) == 0 {
			v := m.rng.Uint64()
			cur.seq = v
			return what, b.SetSequence(v)
		}
		s, err := b.NextSequence()
		cur.seq++
		if err == nil && s != cur.seq {
			err = fmt.Errorf("NextSequence %d, model %d", s, cur.seq)
		}
		return what, err
	case x < 58:
		if len(path) >= 4 {
			return "too deep", nil
		}
		name := fmt.Sprintf("n%d", m.rng.IntN(3))
		what := m.count("create nested") + " " + where + "/" + name
		nb, err := b.CreateBucket([]byte(name))
		switch {
		case cur.subs[name] != nil:
			if !errors.Is(err, ErrBucketExists) {
				return what, fmt.Errorf("create existing: %v", err)
			}
			return what, nil
		case err != nil:
			return what, err
		}
		sub := newMBucket()
		cur.subs[name] = sub
		for i := m.rng.IntN(4); i > 0; i-- {
			k, v := m.key(), m.value()
			if err := nb.Put([]byte(k), v); err != nil {
				return what, err
			}
			sub.kv[k] = string(v)
		}
		if m.rng.IntN(3) == 0 {
			// Gone again in the same transaction.
			delete(cur.subs, name)
			return what + " and delete", b.DeleteBucket([]byte(name))
		}
		return what, nil
	case x < 66:
		if len(cur.subs) == 0 {
			return "no bucket to delete", nil
		}
		name := slices.Sorted(maps.Keys(cur.subs))[m.rng.IntN(len(cur.subs))]
		what := m.count("delete bucket") + " " + where + "/" + name
		delete(cur.subs, name)
		clear(m.handles)
		return what, b.DeleteBucket([]byte(name))
	case x < 72:
		if len(cur.subs) == 0 {
			return "no bucket to move", nil
		}
		name := slices.Sorted(maps.Keys(cur.subs))[m.rng.IntN(len(cur.subs))]
		dpath := m.pick(root)
		if m.rng.IntN(4) == 0 {
			dpath = nil
		}
		what := m.count("move") + fmt.Sprintf(" %s/%s to /%s", where, name, strings.Join(dpath, "/"))
		var dst *Bucket
		if dpath != nil {
			var err error
			if dst, err = m.open(tx, dpath); err != nil {
				return what, err
			}
		}
		err := b.MoveBucket([]byte(name), dst)
		if _, err := applyModelMove(where, name, path, dpath, cur, walkModel(root, dpath), err); err != nil {
			return what, err
		}
		clear(m.handles)
		return what, nil
	case x < 76:
		// A run of deletes, all keys now and then: the leaf empties.
		what := m.count("delete run") + " " + where
		keys := slices.Sorted(maps.Keys(cur.kv))
		for _, k := range keys {
			if m.rng.IntN(2) == 0 && len(keys) > 2 {
				continue
			}
			if err := b.Delete([]byte(k)); err != nil {
				return what, err
			}
			delete(cur.kv, k)
		}
		return what, nil
	default:
		what := m.count("cursor") + " " + where
		return what, m.cursorSession(b, cur)
	}
}

// cursorSession walks b with a cursor in the write transaction against
// cur: forward with deletes, Seek then Prev and Next, a Put mid-walk then
// a Seek to it, First and Last of an empty bucket.
func (m *inlineModel) cursorSession(b *Bucket, cur *mbucket) error {
	c := b.Cursor()
	keys := cur.keys()
	if len(keys) == 0 {
		if k, _ := c.First(); k != nil {
			return fmt.Errorf("First of an empty bucket: %q", k)
		}
		if k, _ := c.Last(); k != nil {
			return fmt.Errorf("Last of an empty bucket: %q", k)
		}
		if k, _ := c.Seek([]byte("k")); k != nil {
			return fmt.Errorf("Seek in an empty bucket: %q", k)
		}
		return nil
	}
	check := func(what string, k, v []byte, want string) error {
		if want == "" {
			if k != nil {
				return fmt.Errorf("%s: %q, model: none", what, k)
			}
			return nil
		}
		if string(k) != want {
			return fmt.Errorf("%s: %q, model %q (keys %v)", what, k, want, keys)
		}
		if sub := cur.subs[want]; sub != nil {
			if v != nil {
				return fmt.Errorf("%s: bucket %q has a value", what, k)
			}
		} else if string(v) != cur.kv[want] {
			return fmt.Errorf("%s: %q's value: %d bytes, model %d", what, k, len(v), len(cur.kv[want]))
		}
		return nil
	}
	at := func(i int) string {
		if i < 0 || i >= len(keys) {
			return ""
		}
		return keys[i]
	}
	switch m.rng.IntN(4) {
	case 0: // forward, deleting some values
		i := 0
		for k, v := c.First(); ; k, v = c.Next() {
			if err := check("Next", k, v, at(i)); err != nil {
				return err
			}
			if k == nil {
				break
			}
			if cur.subs[string(k)] == nil && m.rng.IntN(2) == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
				delete(cur.kv, keys[i])
				keys = slices.Delete(keys, i, i+1)
				continue
			}
			i++
		}
	case 1: // backward, deleting some values
		i := len(keys) - 1
		for k, v := c.Last(); ; k, v = c.Prev() {
			if err := check("Prev", k, v, at(i)); err != nil {
				return err
			}
			if k == nil {
				break
			}
			if cur.subs[string(k)] == nil && m.rng.IntN(3) == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
				delete(cur.kv, keys[i])
				keys = slices.Delete(keys, i, i+1)
			}
			i--
		}
	case 2: // Seek, then steps either way
		seek := m.key()
		i, _ := slices.BinarySearch(keys, seek)
		k, v := c.Seek([]byte(seek))
		if err := check("Seek "+seek, k, v, at(i)); err != nil {
			return err
		}
		for range 4 {
			if m.rng.IntN(2) == 0 {
				if i < len(keys) {
					i++
				}
				k, v = c.Next()
				if err := check("Next after Seek", k, v, at(i)); err != nil {
					return err
				}
				if i == len(keys) {
					return nil // past the end: Next and Prev as bbolt's, not modelled here
				}
			} else {
				i--
				k, v = c.Prev()
				if err := check("Prev after Seek", k, v, at(i)); err != nil {
					return err
				}
				if i < 0 {
					return nil
				}
			}
		}
	case 3: // a Put mid-walk, then the cursor finds it by Seek
		k, _ := c.First()
		if k == nil {
			return fmt.Errorf("First: none, model %v", keys)
		}
		pk, pv := m.key(), m.value()
		err := b.Put([]byte(pk), pv)
		if cur.subs[pk] != nil {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("put over a bucket: %v", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		cur.kv[pk] = string(pv)
		keys = cur.keys()
		c.Next() // may skip or repeat: not checked
		k, v := c.Seek([]byte(pk))
		if err := check("Seek after a Put", k, v, pk); err != nil {
			return err
		}
		i, _ := slices.BinarySearch(keys, pk)
		k, v = c.Next()
		if err := check("Next after a Put and Seek", k, v, at(i+1)); err != nil {
			return err
		}
	}
	return nil
}

// inlinable is what the model says of a bucket with no nested one: its
// tree fits one inline leaf of plain values.
func (m *inlineModel) inlinable(b *mbucket) bool {
	if len(b.subs) > 0 {
		return false
	}
	size := page.HeaderSize
	for k, v := range b.kv {
		if len(v) > btree.LargeThreshold(m.ps) {
			return false
		}
		size += page.HintSize + page.LeafElemSize + len(k) + len(v)
	}
	return size <= page.InlineMax(m.ps)
}

// checkStats compares every bucket's Stats with the model: an inline one
// is inlinable, holds the model's keys and no pages; a bucket holding
// buckets has pages; one the model finds inlinable is inline.
func (m *inlineModel) checkStats(t *testing.T, db *DB, root *mbucket) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		var walk func(path []string, mb *mbucket) error
		walk = func(path []string, mb *mbucket) error {
			for name, sub := range mb.subs {
				p := append(slices.Clip(path), name)
				b, err := walkTx(tx, p)
				if err != nil {
					return err
				}
				st := b.Stats()
				where := strings.Join(p, "/")
				keys, buckets := sub.count()
				if st.KeyN != keys || st.BucketN != buckets {
					return fmt.Errorf("%s: Stats KeyN %d, BucketN %d; model %d keys, %d buckets", where, st.KeyN, st.BucketN, keys, buckets)
				}
				if len(sub.kv) == 0 && len(sub.subs) == 0 {
					if st.InlineBucketN != 1 || st.LeafPageN != 0 {
						return fmt.Errorf("%s: empty, Stats %+v", where, st)
					}
				} else if len(sub.subs) == 0 {
					inline := st.InlineBucketN == 1
					switch {
					case inline && !m.inlinable(sub):
						return fmt.Errorf("%s: inline, but not inlinable by the model: %+v", where, st)
					case inline && (st.LeafPageN != 0 || st.BranchPageN != 0):
						return fmt.Errorf("%s: inline with pages: %+v", where, st)
					case !inline && m.inlinable(sub):
						// Deletes merge a tree that small into one leaf
						// (a leaf under a quarter page is under-full).
						return fmt.Errorf("%s: one small leaf of plain values by the model, and not inline: %+v", where, st)
					}
					if inline {
						m.inline++
					} else {
						m.paged++
					}
				} else if st.LeafPageN == 0 {
					return fmt.Errorf("%s: holds buckets, and has no leaf page: %+v", where, st)
				}
				if err := walk(p, sub); err != nil {
					return err
				}
			}
			return nil
		}
		return walk(nil, root)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// inlineReader is a read transaction kept over later commits, with the
// values it read when it began (aliasing its snapshot's pages, inline
// leaves included) and what they held then.
type inlineReader struct {
	tx    *Tx
	model *mbucket
	until int
	held  [][]byte
	want  []string
	where []string
}

func (m *inlineModel) newReader(t *testing.T, db *DB, model *mbucket, round int) *inlineReader {
	t.Helper()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	r := &inlineReader{tx: tx, model: model.clone(), until: round + 1 + m.rng.IntN(8)}
	var walk func(path []string, mb *mbucket)
	walk = func(path []string, mb *mbucket) {
		for name, sub := range mb.subs {
			p := append(slices.Clip(path), name)
			b, err := walkTx(tx, p)
			if err != nil {
				t.Fatalf("round %d: reader: %v", round, err)
			}
			for k, v := range sub.kv {
				got := b.Get([]byte(k))
				if !bytes.Equal(got, []byte(v)) {
					t.Fatalf("round %d: reader: %s/%s: %d bytes, model %d", round, strings.Join(p, "/"), k, len(got), len(v))
				}
				r.held, r.want = append(r.held, got), append(r.want, v)
				r.where = append(r.where, strings.Join(p, "/")+"/"+k)
			}
			walk(p, sub)
		}
	}
	walk(nil, r.model)
	return r
}

// finish checks the values the reader held since it began, and its whole
// snapshot, then ends it.
func (r *inlineReader) finish(t *testing.T, round int) {
	t.Helper()
	for i, v := range r.held {
		if string(v) != r.want[i] {
			t.Fatalf("round %d: a reader's value %s changed under it: %d bytes %x..., was %d bytes", round, r.where[i], len(v), v[:min(len(v), 8)], len(r.want[i]))
		}
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

// TestBucketInlineReadersOverRemaps: readers keep the keys and values
// they read from a nested bucket and a top-level one, each stored inline
// in its parent's leaf in some snapshots and on a page of its own in
// others, while a writer flips them across the bound and grows the file
// past its mapping (twice: 16 and 32 MiB) with large values elsewhere.
// What a reader read stays as it was until it ends, and every snapshot's
// buckets are one commit's.
func TestBucketInlineReadersOverRemaps(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) { testBucketInlineReadersOverRemaps(t, wal) })
	}
}

func testBucketInlineReadersOverRemaps(t *testing.T, wal bool) {
	const ps = 4096
	db := openTest(t, &Options{PageSize: ps, NoSync: true, WAL: wal})
	gen := func(i int) []byte { return fmt.Appendf(nil, "gen-%05d", i) }
	write := func(i int) error {
		return db.Update(func(tx *Tx) error {
			p, err := tx.CreateBucketIfNotExists([]byte("p"))
			if err != nil {
				return err
			}
			b, err := p.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			// And a top-level one, which read transactions find through
			// their snapshot's remembered headers.
			top, err := tx.CreateBucketIfNotExists([]byte("t"))
			if err != nil {
				return err
			}
			// Odd commits: 2 keys (inline); even ones: 40 (a page).
			n := 2
			if i%2 == 0 {
				n = 40
			}
			for _, b := range []*Bucket{b, top} {
				for k := 0; k < 40; k++ {
					key := fmt.Appendf(nil, "key-%02d", k)
					if k >= n {
						if err := b.Delete(key); err != nil {
							return err
						}
						continue
					}
					if err := b.Put(key, append(gen(i), bytes.Repeat([]byte{byte(k)}, 20)...)); err != nil {
						return err
					}
				}
			}
			big, err := tx.CreateBucketIfNotExists([]byte("big"))
			if err != nil {
				return err
			}
			return big.Put(gen(i), make([]byte, 1<<20))
		})
	}
	if err := write(1); err != nil {
		t.Fatal(err)
	}
	var commits atomic.Int64
	commits.Store(1)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				if err := readOverCommits(db, &commits, &done); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 2; i <= 48; i++ {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
		commits.Add(1)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// readOverCommits reads buckets p/b and t in a read transaction, holds
// what it read until two more commits happened (or the writer is done),
// then checks it did not change.
func readOverCommits(db *DB, commits *atomic.Int64, done *atomic.Bool) error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	start := commits.Load()
	var held [][]byte
	var want []string
	for _, b := range []*Bucket{tx.Bucket([]byte("p")).Bucket([]byte("b")), tx.Bucket([]byte("t"))} {
		if b == nil {
			return fmt.Errorf("p/b or t missing")
		}
		from := len(held)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			held, want = append(held, k, v), append(want, string(k), string(v))
			if g := b.Get(k); !bytes.Equal(g, v) {
				return fmt.Errorf("Get(%q) = %q, cursor %q", k, g, v)
			}
		}
		if n := len(held) - from; n != 4 && n != 80 {
			return fmt.Errorf("a bucket holds %d keys, want 2 or 40", n/2)
		}
	}
	for i := 1; i < len(held); i += 2 {
		if !bytes.Equal(held[i][:9], held[1][:9]) {
			return fmt.Errorf("a snapshot mixes commits: %q and %q", held[1][:9], held[i][:9])
		}
	}
	for commits.Load() < start+2 && !done.Load() {
		runtime.Gosched()
	}
	for i := range held {
		if string(held[i]) != want[i] {
			return fmt.Errorf("a value read from p/b changed under its reader: %q, was %q", held[i], want[i])
		}
	}
	return nil
}
