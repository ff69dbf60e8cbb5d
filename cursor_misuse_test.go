package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Cursor edges, compared with bbolt 1.4 run side by side on the same data:
// the ends (a cursor that ran off one end goes on from the last or first
// element), Delete, and a bucket changed under an open cursor (no panic,
// iteration goes on over what remains).

// anyCursor is the cursor API folio shares with bbolt.
type anyCursor interface {
	First() ([]byte, []byte)
	Last() ([]byte, []byte)
	Next() ([]byte, []byte)
	Prev() ([]byte, []byte)
	Seek([]byte) ([]byte, []byte)
	Delete() error
}

// runCursorOps runs ops ("first", "last", "next", "prev", "seek:KEY",
// "delete") on c and returns one line per call: the key, "/b" for a
// nested bucket (nil value), or the Delete's outcome.
//
// A call that panics gives "op=panic" (bbolt's Delete on a cursor never
// moved does).
func runCursorOps(c anyCursor, ops []string) []string {
	var out []string
	for _, op := range ops {
		out = append(out, runCursorOp(c, op))
	}
	return out
}

func runCursorOp(c anyCursor, op string) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = op + "=panic"
		}
	}()
	var k, v []byte
	switch {
	case op == "first":
		k, v = c.First()
	case op == "last":
		k, v = c.Last()
	case op == "next":
		k, v = c.Next()
	case op == "prev":
		k, v = c.Prev()
	case strings.HasPrefix(op, "seek:"):
		k, v = c.Seek([]byte(op[len("seek:"):]))
	case op == "delete":
		err := c.Delete()
		switch {
		case err == nil:
			return "delete=ok"
		case errors.Is(err, ErrIncompatibleValue), errors.Is(err, berrors.ErrIncompatibleValue):
			return "delete=incompatible"
		default:
			return "delete=" + err.Error()
		}
	default:
		return op + "=unknown"
	}
	r := op + "=" + string(k)
	if k != nil && v == nil {
		r += "/b"
	}
	return r
}

// cursorFixture fills bucket "b" the same way in folio and in bbolt.
type cursorFixture struct {
	name string
	keys []string // plain keys, value "v"+key
	// buckets are nested bucket keys, each holding one key.
	buckets []string
}

func deepKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%05d", i)
	}
	return keys
}

var cursorFixtures = []cursorFixture{
	{name: "empty"},
	{name: "one", keys: []string{"k1"}},
	{name: "flat", keys: []string{"k0", "k1", "k2", "k3", "k4", "k5"}},
	{name: "nested", keys: []string{"b", "d"}, buckets: []string{"a", "c", "e"}},
	// 1 KiB pages and 100-byte values: three levels (checked below).
	{name: "deep", keys: deepKeys(3000)},
}

func (fx cursorFixture) value(k string) []byte {
	return append([]byte("v"+k), bytes.Repeat([]byte{'.'}, 96)...)
}

// openPair opens folio and bbolt databases of 1 KiB pages holding fx.
func openPair(t *testing.T, fx cursorFixture) (*DB, *bolt.DB) {
	t.Helper()
	db := openTest(t, &Options{PageSize: 1024})
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, &bolt.Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range fx.keys {
			if err := b.Put([]byte(k), fx.value(k)); err != nil {
				return err
			}
		}
		for _, k := range fx.buckets {
			nb, err := b.CreateBucket([]byte(k))
			if err != nil {
				return err
			}
			if err := nb.Put([]byte("x"), []byte("y")); err != nil {
				return err
			}
		}
		return nil
	})
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range fx.keys {
			if err := b.Put([]byte(k), fx.value(k)); err != nil {
				return err
			}
		}
		for _, k := range fx.buckets {
			nb, err := b.CreateBucket([]byte(k))
			if err != nil {
				return err
			}
			if err := nb.Put([]byte("x"), []byte("y")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fx.name == "deep" {
		mustUpdate(t, db, func(tx *Tx) error {
			if d := tx.Bucket([]byte("b")).Stats().Depth; d < 3 {
				t.Fatalf("deep fixture has %d levels, want 3 or more", d)
			}
			return nil
		})
	}
	return db, bdb
}

// bothCursors runs fn on folio's and bbolt's cursors over "b" in write
// transactions that roll back, and returns both results.
func bothCursors(t *testing.T, db *DB, bdb *bolt.DB, fn func(c anyCursor) []string) (folio, bbolt []string) {
	t.Helper()
	rollback := errors.New("rollback")
	err := db.Update(func(tx *Tx) error {
		folio = fn(tx.Bucket([]byte("b")).Cursor())
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("folio: %v", err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		bbolt = fn(tx.Bucket([]byte("b")).Cursor())
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("bbolt: %v", err)
	}
	return folio, bbolt
}

// TestCursorEndsLikeBbolt: each script gives the same results in folio
// and bbolt, on every fixture: in particular a cursor that ran off an end
// stays on the last (first) element, so Prev (Next) goes on from there,
// and Seek past the last key then Prev returns the last key (the reverse
// range idiom). Scripts with Delete cover the combinations where folio
// and bbolt agree; where they differ by design, TestCursorDeleteSemantics.
func TestCursorEndsLikeBbolt(t *testing.T) {
	scripts := [][]string{
		{"last", "next", "prev"},
		{"last", "next", "next", "prev", "prev"},
		{"first", "prev", "next"},
		{"first", "prev", "prev", "next", "next"},
		{"seek:zzz", "prev", "prev"},
		{"seek:zzz", "next", "prev"},
		{"seek:", "prev", "next"},
		{"seek:c", "prev", "prev", "next"},
		{"seek:k02999", "next", "prev"},
		{"seek:k01000", "prev", "next", "next"},
		{"next"}, {"prev"},
		// Off an end and back, then Delete: bbolt deletes the element the
		// cursor stayed on (or refuses a bucket).
		{"last", "next", "delete", "last"},
		{"first", "prev", "delete", "first"},
		{"seek:zzz", "delete", "last"},
		{"last", "delete", "next", "prev"},
		{"first", "delete", "prev", "next"},
		{"seek:c", "delete", "next", "next"},
		{"last", "delete", "delete", "last"},
	}
	for _, fx := range cursorFixtures {
		t.Run(fx.name, func(t *testing.T) {
			db, bdb := openPair(t, fx)
			for _, ops := range scripts {
				got, want := bothCursors(t, db, bdb, func(c anyCursor) []string {
					r := runCursorOps(c, ops)
					// What the script left: the keys, read afresh.
					for k, v := c.First(); k != nil; k, v = c.Next() {
						if !bytes.Equal(v, fx.value(string(k))) && v != nil {
							r = append(r, "bad value at "+string(k))
						}
					}
					return append(r, fmt.Sprint("left ", countKeys(c)))
				})
				if !slices.Equal(got, want) || slices.ContainsFunc(got, func(r string) bool { return strings.HasSuffix(r, "=panic") }) {
					t.Errorf("%v:\nfolio %v\nbbolt %v", ops, got, want)
				}
			}
		})
	}
}

func countKeys(c anyCursor) int {
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// TestCursorDeleteSemantics: where folio's Delete differs from bbolt's on
// purpose (README, "The API, and where it differs from bbolt"): Next
// after a Delete returns the element that followed and Prev the one
// before (bbolt returns the deleted key again from a committed page, or
// skips one on a changed one), and a second Delete removes the element
// that followed, also across a leaf boundary, refusing a nested bucket.
func TestCursorDeleteSemantics(t *testing.T) {
	for _, tc := range []struct {
		fx   string
		ops  []string
		want []string
	}{
		{"flat", []string{"seek:k3", "delete", "next", "prev"},
			[]string{"seek:k3=k3", "delete=ok", "next=k4", "prev=k2"}},
		{"flat", []string{"seek:k3", "delete", "delete", "next", "prev", "first"},
			[]string{"seek:k3=k3", "delete=ok", "delete=ok", "next=k5", "prev=k2", "first=k0"}},
		{"flat", []string{"seek:k4", "delete", "delete", "delete", "next", "prev"},
			[]string{"seek:k4=k4", "delete=ok", "delete=ok", "delete=ok", "next=", "prev=k3"}},
		// bbolt panics (index out of range) on a cursor never moved.
		{"flat", []string{"delete", "first"}, []string{"delete=ok", "first=k0"}},
		{"nested", []string{"seek:b", "delete", "delete", "next"},
			[]string{"seek:b=b", "delete=ok", "delete=incompatible", "next=c/b"}},
	} {
		var fx cursorFixture
		for _, f := range cursorFixtures {
			if f.name == tc.fx {
				fx = f
			}
		}
		db, bdb := openPair(t, fx)
		got, bgot := bothCursors(t, db, bdb, func(c anyCursor) []string { return runCursorOps(c, tc.ops) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %v:\nfolio %v\nwant  %v (bbolt %v)", tc.fx, tc.ops, got, tc.want, bgot)
		}
	}
}

// TestCursorDeleteTwiceAtLeafEnd: a second Delete without a move removes
// the element that followed also when the first removed a leaf's last
// element (it used to remove nothing there), and refuses when that
// element is a nested bucket at the start of the next leaf.
func TestCursorDeleteTwiceAtLeafEnd(t *testing.T) {
	const n = 200
	db := openTest(t, &Options{PageSize: 1024})
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%03d", i)) }
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(key(i), make([]byte, 200)); err != nil {
				return err
			}
		}
		return nil
	})
	rollback := errors.New("rollback")
	for i := range n - 1 {
		err := db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			c := b.Cursor()
			c.Seek(key(i))
			if err := c.Delete(); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			if b.Get(key(i)) != nil || b.Get(key(i+1)) != nil {
				return fmt.Errorf("after two Deletes at %s: %s kept %v, %s kept %v", key(i),
					key(i), b.Get(key(i)) != nil, key(i+1), b.Get(key(i+1)) != nil)
			}
			if k, _ := c.Next(); i+2 < n && string(k) != string(key(i+2)) {
				return fmt.Errorf("Next after two Deletes at %s = %q, want %s", key(i), k, key(i+2))
			}
			if got := countKeys(c); got != n-2 {
				return fmt.Errorf("after two Deletes at %s, %d keys, want %d", key(i), got, n-2)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
	}
	// Each key in turn a nested bucket: the second Delete refuses it
	// wherever it lies, the first of a leaf or not.
	for i := 1; i < n; i++ {
		err := db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			if err := b.Delete(key(i)); err != nil {
				return err
			}
			if _, err := b.CreateBucket(key(i)); err != nil {
				return err
			}
			c := b.Cursor()
			c.Seek(key(i - 1))
			if err := c.Delete(); err != nil {
				return err
			}
			if err := c.Delete(); !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("second Delete, on bucket %s: %v, want ErrIncompatibleValue", key(i), err)
			}
			if b.Bucket(key(i)) == nil {
				return fmt.Errorf("bucket %s gone", key(i))
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
	}
}

// TestCursorBucketChangedUnder: Bucket.Delete and DeleteBucket while a
// cursor walks the bucket, after an earlier change in the same
// transaction (so the cursor reads materialised nodes, which shrink under
// it), neither panic nor fail, and the walk goes on over what remains.
// As in bbolt, a loop deleting the key it stands on may skip keys (the
// next one moves under the cursor); which ones depends on where leaves
// split, so the test checks what holds either way: the keys met ascend
// (or descend), each was there, and exactly they are gone.
func TestCursorBucketChangedUnder(t *testing.T) {
	forward := [2]cursorMove{(*Cursor).First, (*Cursor).Next}
	backward := [2]cursorMove{(*Cursor).Last, (*Cursor).Prev}
	for _, tc := range []struct {
		name string
		// fn deletes keys while it walks b and returns the keys it met.
		fn func(b *Bucket) ([]string, error)
		up bool // the keys met ascend
	}{
		{"cursor loop with Bucket.Delete", func(b *Bucket) ([]string, error) {
			return deleteWalk(b, forward)
		}, true},
		{"reverse loop with Bucket.Delete", func(b *Bucket) ([]string, error) {
			return deleteWalk(b, backward)
		}, false},
		{"ForEach with Bucket.Delete", func(b *Bucket) ([]string, error) {
			var met []string
			err := b.ForEach(func(k, _ []byte) error {
				met = append(met, string(k))
				return b.Delete(k)
			})
			return met, err
		}, true},
	} {
		for _, size := range []int{10, 300} {
			t.Run(fmt.Sprintf("%s/keys=%d", tc.name, size), func(t *testing.T) {
				db := openTest(t, &Options{PageSize: 1024})
				keys := append(deepKeys(size), "zz")
				fillBucket(t, db, keys[:size])
				mustUpdate(t, db, func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					// The earlier change: the walk reads materialised nodes.
					if err := b.Put([]byte("zz"), []byte("1")); err != nil {
						return err
					}
					met, err := tc.fn(b)
					if err != nil {
						return err
					}
					if len(met) == 0 {
						return errors.New("the walk met no key")
					}
					for i, k := range met {
						if !slices.Contains(keys, k) {
							return fmt.Errorf("met %q, never put", k)
						}
						if i > 0 && (met[i-1] < k) != tc.up {
							return fmt.Errorf("met %q after %q", k, met[i-1])
						}
					}
					var left []string
					b.ForEach(func(k, _ []byte) error { left = append(left, string(k)); return nil })
					want := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(met, k) })
					if !slices.Equal(left, want) {
						return fmt.Errorf("left %d keys, want %d", len(left), len(want))
					}
					return nil
				})
			})
		}
	}
	t.Run("tx.ForEach with DeleteBucket", func(t *testing.T) {
		db := openTest(t, nil)
		mustUpdate(t, db, func(tx *Tx) error {
			for i := range 5 {
				if _, err := tx.CreateBucket([]byte(fmt.Sprintf("tmp%d", i))); err != nil {
					return err
				}
			}
			return tx.ForEach(func(name []byte, _ *Bucket) error { return tx.DeleteBucket(name) })
		})
	})
	// A Delete leaves the cursor on the element that followed; Bucket.Delete
	// then removes that one and more, over leaves: Next returns the first
	// key left after them, and the walk goes on from there.
	t.Run("Cursor.Delete then Bucket.Delete of what followed", func(t *testing.T) {
		db := openTest(t, &Options{PageSize: 1024})
		keys := deepKeys(300)
		fillBucket(t, db, keys)
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			c := b.Cursor()
			c.Seek([]byte(keys[100]))
			if err := c.Delete(); err != nil {
				return err
			}
			for _, k := range keys[101:150] {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
			var met []string
			for k, _ := c.Next(); k != nil; k, _ = c.Next() {
				met = append(met, string(k))
			}
			if !slices.Equal(met, keys[150:]) {
				return fmt.Errorf("Next met %d keys from %q, want %d from %q", len(met), met[:min(1, len(met))], 150, keys[150])
			}
			return nil
		})
	})
}

type cursorMove func(c *Cursor) ([]byte, []byte)

// deleteWalk walks b with w (the first move, then the next), deleting
// each key it meets with Bucket.Delete.
func deleteWalk(b *Bucket, w [2]cursorMove) ([]string, error) {
	var met []string
	c := b.Cursor()
	for k, _ := w[0](c); k != nil; k, _ = w[1](c) {
		met = append(met, string(k))
		if err := b.Delete(k); err != nil {
			return met, err
		}
	}
	return met, nil
}

func fillBucket(t *testing.T, db *DB, keys []string) {
	t.Helper()
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put([]byte(k), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestCursorDeleteAfterPut: a Cursor.Delete removes the key under the
// cursor, as bbolt's does (it deletes by key), also when Puts since the
// cursor moved shifted the elements of its leaf, or split it into parts
// and the parent (the cursor still reads the committed page): walking
// down by the cursor's indices would reach another key, or a branch.
func TestCursorDeleteAfterPut(t *testing.T) {
	for _, puts := range []int{1, 400} {
		t.Run(fmt.Sprintf("puts=%d", puts), func(t *testing.T) {
			db := openTest(t, &Options{PageSize: 1024})
			keys := deepKeys(3000)
			fillBucket(t, db, keys)
			var added []string
			for i := range puts {
				added = append(added, fmt.Sprintf("%s-%04d", keys[1499], i)) // just before keys[1500]
			}
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				c := b.Cursor()
				if k, _ := c.Seek([]byte(keys[1500])); string(k) != keys[1500] {
					return fmt.Errorf("Seek = %q", k)
				}
				for _, k := range added {
					if err := b.Put([]byte(k), bytes.Repeat([]byte{'n'}, 100)); err != nil {
						return err
					}
				}
				if err := c.Delete(); err != nil {
					return err
				}
				if k, _ := c.Next(); string(k) != keys[1501] {
					return fmt.Errorf("Next after Delete = %q, want %s", k, keys[1501])
				}
				return nil
			})
			var left []string
			err := db.View(func(tx *Tx) error {
				return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error { left = append(left, string(k)); return nil })
			})
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Concat(keys[:1500], keys[1501:], added)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				i := 0
				for i < min(len(left), len(want)) && left[i] == want[i] {
					i++
				}
				t.Fatalf("%d keys left, want %d; first difference at %d", len(left), len(want), i)
			}
		})
	}
}

// cursorModel is where a cursor over keys stands: pos in [0, len(keys)],
// len(keys) past the last key. A call off an end returns nil and leaves
// pos on the last (first) key; a Seek past the last key leaves it past.
type cursorModel struct {
	keys []string
	pos  int
}

func (m *cursorModel) at() string { return m.keys[m.pos] }

func (m *cursorModel) run(op string) string {
	n := len(m.keys)
	k := ""
	switch {
	case op == "first" && n > 0:
		m.pos = 0
		k = m.at()
	case op == "last" && n > 0:
		m.pos = n - 1
		k = m.at()
	case op == "next" && m.pos+1 < n:
		m.pos++
		k = m.at()
	case op == "prev" && m.pos > 0:
		m.pos--
		k = m.at()
	case strings.HasPrefix(op, "seek:"):
		m.pos, _ = slices.BinarySearch(m.keys, op[len("seek:"):])
		if m.pos < n {
			k = m.at()
		}
	}
	return op + "=" + k
}

// TestCursorRandomizedLikeBbolt: random First, Last, Seek, Next and Prev
// calls on a tree of three levels give bbolt's keys, and the model's.
// Then, after Bucket.Deletes that emptied whole leaves (which the commit
// would rebalance away), the model's: folio steps over empty leaves both
// ways. (bbolt's Prev stops at one, returning nil, and a cursor run off
// an end rests on one, so what follows depends on where leaves split.)
func TestCursorRandomizedLikeBbolt(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 7))
	fx := cursorFixture{name: "deep", keys: deepKeys(3000)}
	db, bdb := openPair(t, fx)
	ops := make([]string, 3000)
	for i := range ops {
		switch r := rng.IntN(20); {
		case r == 0:
			ops[i] = "first"
		case r == 1:
			ops[i] = "last"
		case r < 4:
			ops[i] = fmt.Sprintf("seek:k%05d", rng.IntN(3100))
		case r < 12:
			ops[i] = "next"
		default:
			ops[i] = "prev"
		}
	}
	ops[0] = "first"
	// Deleted: the first and last 100 keys, and runs in between.
	var gone [][]byte
	var left []string
	for i, k := range fx.keys {
		if i < 100 || i >= 2900 || i%500 < 60 {
			gone = append(gone, []byte(k))
		} else {
			left = append(left, k)
		}
	}
	model := func(keys []string) []string {
		m := &cursorModel{keys: keys}
		var out []string
		for _, op := range ops {
			out = append(out, m.run(op))
		}
		return out
	}
	compare := func(what string, got, want []string) {
		t.Helper()
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%s: op %d: folio %s, want %s; ops before: %v", what, i, got[i], want[i], ops[max(0, i-8):i])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d results, want %d", what, len(got), len(want))
		}
	}
	var after []string
	got, bgot := bothCursors(t, db, bdb, func(c anyCursor) []string {
		r := runCursorOps(c, ops)
		if c, ok := c.(*Cursor); ok {
			for _, k := range gone {
				if err := c.Bucket().Delete(k); err != nil {
					t.Fatal(err)
				}
			}
			after = runCursorOps(c, ops)
		}
		return r
	})
	compare("bbolt", got, bgot)
	compare("model", got, model(fx.keys))
	compare("model after the deletes", after, model(left))
}
