package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestBucketSizeLimits stores keys up to MaxKeySize (sharing long
// prefixes, so branches hold separators that long too) with values on
// either side of the out-of-line threshold, in a nested bucket; deletes
// most of them so pages merge, then all, and checks and reopens between.
func TestBucketSizeLimits(t *testing.T) {
	for _, ps := range []int{1024, 4096} {
		t.Run(fmt.Sprintf("page=%d", ps), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), uint64(ps)))
			db := openTest(t, &Options{PageSize: ps, NoSync: true})
			key := func(i int) []byte {
				n := MaxKeySize
				if i%3 == 1 {
					n = 1 + rng.IntN(MaxKeySize)
				}
				k := bytes.Repeat([]byte{'k'}, n)
				copy(k[max(0, n-4):], fmt.Sprintf("%04d", i))
				return k
			}
			sizes := []int{0, 1, ps/4 - 1, ps / 4, ps/4 + 1, ps - 32, ps, 3*ps + 7}
			model := map[string][]byte{}
			put := func(b *Bucket, i int) error {
				k := key(i)
				v := bytes.Repeat([]byte{byte(i)}, sizes[rng.IntN(len(sizes))])
				model[string(k)] = v
				return b.Put(k, v)
			}
			bucket := func(tx *Tx) *Bucket {
				return tx.Bucket([]byte("a")).Bucket(bytes.Repeat([]byte{'b'}, MaxKeySize))
			}
			if err := db.Update(func(tx *Tx) error {
				a, err := tx.CreateBucket([]byte("a"))
				if err != nil {
					return err
				}
				b, err := a.CreateBucket(bytes.Repeat([]byte{'b'}, MaxKeySize))
				if err != nil {
					return err
				}
				if err := b.Put(make([]byte, MaxKeySize+1), nil); !errors.Is(err, ErrKeyTooLarge) {
					return fmt.Errorf("key over MaxKeySize: %v", err)
				}
				if _, err := b.CreateBucket(make([]byte, MaxKeySize+1)); !errors.Is(err, ErrKeyTooLarge) {
					return fmt.Errorf("bucket name over MaxKeySize: %v", err)
				}
				for i := 0; i < 60; i++ {
					if err := put(b, i); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			compare := func() {
				t.Helper()
				mustCheck(t, db)
				if err := db.View(func(tx *Tx) error {
					b := bucket(tx)
					n := 0
					for k, v := b.Cursor().First(); k != nil; k, v = b.Cursor().Seek(append(bytes.Clone(k), 0)) {
						n++
						if mv, ok := model[string(k)]; !ok || !bytes.Equal(v, mv) {
							return fmt.Errorf("key of %d bytes: %d bytes, model %v %d", len(k), len(v), ok, len(mv))
						}
					}
					if n != len(model) {
						return fmt.Errorf("%d keys, model %d", n, len(model))
					}
					for k, v := range model {
						if got := b.Get([]byte(k)); !bytes.Equal(got, v) || got == nil {
							return fmt.Errorf("Get of a %d-byte key differs", len(k))
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			compare()
			db = reopen(t, db, &Options{NoSync: true})
			compare()
			for round := 0; round < 4; round++ {
				if err := db.Update(func(tx *Tx) error {
					b := bucket(tx)
					for k := range model {
						if rng.IntN(4) != 0 {
							delete(model, k)
							if err := b.Delete([]byte(k)); err != nil {
								return err
							}
						}
					}
					for i := 0; i < 5; i++ {
						if err := put(b, 100+10*round+i); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				compare()
			}
			if err := db.Update(func(tx *Tx) error {
				b := bucket(tx)
				for k := range model {
					delete(model, k)
					if err := b.Delete([]byte(k)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			compare()
			db = reopen(t, db, &Options{NoSync: true})
			compare()
			if err := db.Update(func(tx *Tx) error { return tx.DeleteBucket([]byte("a")) }); err != nil {
				t.Fatal(err)
			}
			mustCheck(t, db)
		})
	}
}
