package folio

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Large values replaced in place: small to large and back, a run grown
// and shrunk, one key rewritten many times in one transaction and across
// transactions, in direct mode and in WAL mode logging images and
// operations. After every commit every page is accounted for (no run
// leaked, none freed twice), the runs reachable are exactly the model's,
// and in WAL mode a copy of the files as a kill leaves them replays to
// the same contents (every few commits: a copy costs the log's segment).

// lvMode is a configuration of the update tests.
type lvMode struct {
	name       string
	wal        bool
	imageLimit int   // DB.WALImageLimit
	ckpt       int64 // Options.CheckpointBytes
}

var lvModes = []lvMode{
	{"direct", false, 0, 0},
	{"wal", true, 0, 0},
	{"wal-images", true, 64 << 20, 0},
	{"wal-ops", true, -1, 0},
	// A checkpoint after most commits: runs freed while the last
	// checkpoint still reaches them are held, then released.
	{"wal-images-checkpoints", true, 64 << 20, 4 << 10},
	{"wal-ops-checkpoints", true, -1, 4 << 10},
}

// lvRunPages is the pages of the run a value of n bytes takes, 0 inline.
func lvRunPages(n, ps int) int {
	if n <= ps/4 {
		return 0
	}
	return (32 + n + ps - 1) / ps
}

// lvCompare checks that bucket "b" of db holds exactly model, and that
// its large-value pages are those of the model's values.
func lvCompare(t *testing.T, db *DB, model map[string][]byte, when string) {
	t.Helper()
	ps := lvPageSize(t, db)
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			return fmt.Errorf("no bucket")
		}
		keys := make([]string, 0, len(model))
		runs := 0
		for k, v := range model {
			keys = append(keys, k)
			runs += lvRunPages(len(v), ps)
		}
		sort.Strings(keys)
		i := 0
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if i >= len(keys) || string(k) != keys[i] {
				return fmt.Errorf("key %q, want %d keys %q", k, len(keys), keys)
			}
			if want := model[keys[i]]; !bytes.Equal(v, want) || v == nil {
				return fmt.Errorf("%s: cursor reads %d bytes, want %d", k, len(v), len(want))
			}
			if g := b.Get(k); !bytes.Equal(g, model[keys[i]]) {
				return fmt.Errorf("%s: Get reads %d bytes, want %d", k, len(g), len(model[keys[i]]))
			}
			i++
		}
		if i != len(keys) {
			return fmt.Errorf("%d keys, want %d", i, len(keys))
		}
		if st := b.Stats(); st.LargePageN != runs {
			return fmt.Errorf("%d large-value pages reachable, the model's values take %d", st.LargePageN, runs)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

// lvPageSize is the page size of db.
func lvPageSize(t *testing.T, db *DB) int {
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	return in.PageSize
}

// TestLargeValueUpdateInPlace runs the transitions in every mode and page
// size, accounting for every page after each commit.
func TestLargeValueUpdateInPlace(t *testing.T) {
	for _, m := range lvModes {
		for _, ps := range []int{1024, 4096} {
			t.Run(fmt.Sprintf("%s/ps=%d", m.name, ps), func(t *testing.T) {
				opts := &Options{PageSize: ps, WAL: m.wal, NoSync: true, CheckpointBytes: m.ckpt}
				db := openTest(t, opts)
				db.WALImageLimit = m.imageLimit
				mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
				model := map[string][]byte{}
				seed := byte(0)
				val := func(n int) []byte { seed++; return lvValue(n, seed) }
				q := ps / 4
				type step struct {
					name string
					ops  []func(b *Bucket) error
				}
				put := func(k string, n int) func(b *Bucket) error {
					return func(b *Bucket) error {
						v := val(n)
						if err := b.Put([]byte(k), v); err != nil {
							return err
						}
						model[k] = v
						if g := b.Get([]byte(k)); !bytes.Equal(g, v) {
							return fmt.Errorf("%s: %d bytes read back in the transaction, want %d", k, len(g), n)
						}
						return nil
					}
				}
				del := func(k string) func(b *Bucket) error {
					return func(b *Bucket) error {
						delete(model, k)
						if err := b.Delete([]byte(k)); err != nil {
							return err
						}
						if g := b.Get([]byte(k)); g != nil {
							return fmt.Errorf("%s: %d bytes after its delete", k, len(g))
						}
						return nil
					}
				}
				steps := []step{
					{"small", []func(*Bucket) error{put("a", 10), put("b", q), put("c", 0)}},
					{"small->large", []func(*Bucket) error{put("a", q+1), put("b", ps), put("c", 3*ps)}},
					{"large->larger", []func(*Bucket) error{put("a", 5*ps), put("b", ps+1), put("c", 3*ps+1)}},
					{"large->smaller", []func(*Bucket) error{put("a", 2*ps), put("b", q+1), put("c", ps-32)}},
					{"large->inline", []func(*Bucket) error{put("a", q), put("b", 0), put("c", 1)}},
					{"inline->large", []func(*Bucket) error{put("a", 7*ps), put("b", 2*ps-32), put("c", 2*ps-31)}},
					{"same size", []func(*Bucket) error{put("a", 7*ps), put("b", 2*ps-32), put("c", 2*ps-31)}},
				}
				// One key many times in one transaction, ending large,
				// inline, and deleted.
				var many []func(*Bucket) error
				for i := range 12 {
					many = append(many, put("a", []int{q + 1, 3 * ps, 0, ps, 9 * ps, q}[i%6]))
					many = append(many, put("d", (i+1)*ps/2))
				}
				many = append(many, put("a", 4*ps), del("d"), put("d", q+1), del("d"))
				steps = append(steps, step{"many in one tx", many})
				steps = append(steps,
					step{"delete large", []func(*Bucket) error{del("a"), del("c")}},
					step{"put after delete", []func(*Bucket) error{put("a", 3*ps), del("a"), put("a", 2*ps), put("c", q+1)}},
				)
				// The same key across many transactions.
				for i := range 10 {
					steps = append(steps, step{fmt.Sprintf("across %d", i), []func(*Bucket) error{
						put("e", []int{q + 1, 3 * ps, 0, ps, 9 * ps, q, 2 * ps, ps - 32, ps - 31, 1}[i]),
					}})
				}
				steps = append(steps, step{"delete all", []func(*Bucket) error{del("a"), del("b"), del("c"), del("e")}})
				for i, s := range steps {
					mustUpdate(t, db, func(tx *Tx) error {
						b := tx.Bucket([]byte("b"))
						for _, op := range s.ops {
							if err := op(b); err != nil {
								return fmt.Errorf("%s: %w", s.name, err)
							}
						}
						return nil
					})
					when := fmt.Sprintf("step %d (%s)", i, s.name)
					churnAccount(t, db, when)
					lvCompare(t, db, model, when)
					// A copy costs the log's 8 MiB segment: every third step.
					if m.wal && (i%3 == 1 || i == len(steps)-1) {
						crash := lvCrashCopy(t, db.Path())
						db2, err := Open(crash, 0o600, opts)
						if err != nil {
							t.Fatalf("%s: reopen after a kill: %v", when, err)
						}
						lvCompare(t, db2, model, when+", replayed")
						churnAccount(t, db2, when+", replayed")
						closeChecked(t, db2)
					}
					if i%4 == 3 {
						db = reopen(t, db, opts)
						db.WALImageLimit = m.imageLimit
						churnAccount(t, db, when+", reopened")
						lvCompare(t, db, model, when+", reopened")
					}
				}
			})
		}
	}
}

// TestLargeValueBuckets: nested buckets holding large values are moved,
// deleted whole (with the buckets under them) and recreated, in every
// mode; after each commit every page is accounted for, the large-value
// pages reachable are the model's, and WAL replay gives the same.
func TestLargeValueBuckets(t *testing.T) {
	for _, m := range lvModes {
		t.Run(m.name, func(t *testing.T) {
			const ps = 1024
			opts := &Options{PageSize: ps, WAL: m.wal, NoSync: true, CheckpointBytes: m.ckpt}
			db := openTest(t, opts)
			db.WALImageLimit = m.imageLimit
			// model: bucket path -> key -> value.
			model := map[string]map[string][]byte{}
			seed := byte(100)
			fill := func(tx *Tx, path ...string) error {
				var b *Bucket
				for i, p := range path {
					var err error
					if i == 0 {
						b, err = tx.CreateBucketIfNotExists([]byte(p))
					} else {
						b, err = b.CreateBucketIfNotExists([]byte(p))
					}
					if err != nil {
						return err
					}
				}
				name := fmt.Sprint(path)
				if model[name] == nil {
					model[name] = map[string][]byte{}
				}
				for i, n := range []int{ps/4 + 1, 3 * ps, 10, 7*ps + 5} {
					seed++
					v := lvValue(n, seed)
					k := fmt.Sprintf("k%d", i)
					if err := b.Put([]byte(k), v); err != nil {
						return err
					}
					model[name][k] = v
				}
				return nil
			}
			bucket := func(tx *Tx, path ...string) *Bucket {
				b := tx.Bucket([]byte(path[0]))
				for _, p := range path[1:] {
					if b == nil {
						return nil
					}
					b = b.Bucket([]byte(p))
				}
				return b
			}
			// dropModel forgets path and every bucket under it.
			dropModel := func(path ...string) {
				pre := fmt.Sprint(path)
				pre = pre[:len(pre)-1]
				for k := range model {
					if k == pre+"]" || len(k) > len(pre) && k[:len(pre)+1] == pre+" " {
						delete(model, k)
					}
				}
			}
			moveModel := func(from, to []string) {
				pre := fmt.Sprint(from)
				pre = pre[:len(pre)-1]
				npre := fmt.Sprint(to)
				npre = npre[:len(npre)-1]
				for k, v := range model {
					if k == pre+"]" || len(k) > len(pre) && k[:len(pre)+1] == pre+" " {
						delete(model, k)
						model[npre+k[len(pre):]] = v
					}
				}
			}
			compare := func(db *DB, when string) {
				t.Helper()
				err := db.View(func(tx *Tx) error {
					runs := 0
					for name, kv := range model {
						path := strings.Fields(strings.Trim(name, "[]"))
						b := bucket(tx, path...)
						if b == nil {
							return fmt.Errorf("bucket %s missing", name)
						}
						for k, v := range kv {
							if got := b.Get([]byte(k)); !bytes.Equal(got, v) {
								return fmt.Errorf("%s/%s: %d bytes, want %d", name, k, len(got), len(v))
							}
							runs += lvRunPages(len(v), ps)
						}
					}
					st := tx.Cursor().Bucket().Stats()
					if st.LargePageN != runs {
						return fmt.Errorf("%d large-value pages reachable, the model's take %d", st.LargePageN, runs)
					}
					return tx.Err()
				})
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
			}
			steps := []struct {
				name string
				fn   func(tx *Tx) error
			}{
				{"fill", func(tx *Tx) error {
					for _, p := range [][]string{{"a"}, {"a", "x"}, {"a", "x", "y"}, {"b"}, {"b", "z"}} {
						if err := fill(tx, p...); err != nil {
							return err
						}
					}
					return nil
				}},
				{"move a/x to b", func(tx *Tx) error {
					moveModel([]string{"a", "x"}, []string{"b", "x"})
					return tx.Bucket([]byte("a")).MoveBucket([]byte("x"), tx.Bucket([]byte("b")))
				}},
				{"overwrite in moved", func(tx *Tx) error { return fill(tx, "b", "x", "y") }},
				{"delete b/x", func(tx *Tx) error {
					dropModel("b", "x")
					return tx.Bucket([]byte("b")).DeleteBucket([]byte("x"))
				}},
				{"fill, move and delete in one tx", func(tx *Tx) error {
					if err := fill(tx, "c", "d"); err != nil {
						return err
					}
					if err := fill(tx, "c", "d", "e"); err != nil {
						return err
					}
					moveModel([]string{"c", "d"}, []string{"d"})
					if err := tx.Bucket([]byte("c")).MoveBucket([]byte("d"), nil); err != nil {
						return err
					}
					if err := fill(tx, "d", "e"); err != nil {
						return err
					}
					dropModel("c")
					return tx.DeleteBucket([]byte("c"))
				}},
				{"delete a", func(tx *Tx) error { dropModel("a"); return tx.DeleteBucket([]byte("a")) }},
				{"recreate a", func(tx *Tx) error { return fill(tx, "a", "x") }},
				{"overwrite then delete d", func(tx *Tx) error {
					if err := fill(tx, "d", "e"); err != nil {
						return err
					}
					dropModel("d")
					return tx.DeleteBucket([]byte("d"))
				}},
				{"delete all", func(tx *Tx) error {
					dropModel("a")
					dropModel("b")
					if err := tx.DeleteBucket([]byte("a")); err != nil {
						return err
					}
					return tx.DeleteBucket([]byte("b"))
				}},
			}
			for i, s := range steps {
				when := fmt.Sprintf("step %d (%s)", i, s.name)
				if err := db.Update(s.fn); err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				churnAccount(t, db, when)
				compare(db, when)
				if m.wal && (i%2 == 1 || i == len(steps)-1) {
					db2, err := Open(lvCrashCopy(t, db.Path()), 0o600, opts)
					if err != nil {
						t.Fatalf("%s: reopen after a kill: %v", when, err)
					}
					compare(db2, when+", replayed")
					churnAccount(t, db2, when+", replayed")
					closeChecked(t, db2)
				}
				if i%3 == 2 {
					db = reopen(t, db, opts)
					db.WALImageLimit = m.imageLimit
					churnAccount(t, db, when+", reopened")
					compare(db, when+", reopened")
				}
			}
			if in, used := lvUsed(t, db); used > 4 {
				t.Fatalf("%d pages in use with no bucket left: %+v", used, in)
			}
		})
	}
}
