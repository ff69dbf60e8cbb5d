package folio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestBucketBranchMerge deletes and reinserts runs of long keys (long
// separators: small branches, a deep tree) so that branches merge, with
// Check and every Get after each commit. A merged branch lost the keys
// its first child held below the branch's first key: Get missed them and
// Check called the file corrupt.
func TestBucketBranchMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	prefix := bytes.Repeat([]byte("p"), 150)
	key := func(i int) []byte { return fmt.Appendf(bytes.Clone(prefix), "%05d", i) }
	const n = 800
	model := map[string]string{}
	update := func(fn func(b *Bucket) error) {
		t.Helper()
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return fn(b)
		}); err != nil {
			t.Fatal(err)
		}
	}
	update(func(b *Bucket) error {
		for i := 0; i < n; i++ {
			model[string(key(i))] = "v"
			if err := b.Put(key(i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	for round := 0; round < 60; round++ {
		update(func(b *Bucket) error {
			for o := 1 + rng.IntN(4); o > 0; o-- {
				lo := rng.IntN(n)
				hi := min(n, lo+rng.IntN(120))
				del := rng.IntN(3) != 0
				for i := lo; i < hi; i++ {
					if rng.IntN(8) == 0 {
						continue
					}
					k := key(i)
					if del {
						delete(model, string(k))
						if err := b.Delete(k); err != nil {
							return err
						}
						continue
					}
					v := fmt.Sprint(round)
					model[string(k)] = v
					if err := b.Put(k, []byte(v)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		mustCheck(t, db)
		if err := db.View(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := 0; i < n; i++ {
				v, ok := model[string(key(i))]
				if got := b.Get(key(i)); string(got) != v || (got != nil) != ok {
					return fmt.Errorf("round %d: Get(key %d) = %q, model %q (%v)", round, i, got, v, ok)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}
