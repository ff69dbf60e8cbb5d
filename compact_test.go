package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// dumpTree lists everything a database holds, one line per bucket (with
// its sequence) and per key, with empty values told from nested buckets.
func dumpTree(t testing.TB, db *DB) []string {
	t.Helper()
	var out []string
	var walk func(prefix string, b *Bucket) error
	walk = func(prefix string, b *Bucket) error {
		out = append(out, fmt.Sprintf("%s seq=%d", prefix, b.Sequence()))
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if child := b.Bucket(k); child != nil {
					return walk(fmt.Sprintf("%s/%q", prefix, k), child)
				}
			}
			out = append(out, fmt.Sprintf("%s %q=%x (%d)", prefix, k, v, len(v)))
			return nil
		})
	}
	err := db.View(func(tx *Tx) error {
		return tx.ForEach(func(name []byte, b *Bucket) error { return walk(fmt.Sprintf("%q", name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fillRandom builds a random tree of nested buckets in db over several
// transactions, with deletes (so the file holds free pages), empty values,
// values larger than a page and bucket sequences.
func fillRandom(t testing.TB, db *DB, r *rand.Rand, txs int) {
	t.Helper()
	for range txs {
		err := db.Update(func(tx *Tx) error {
			for range 1 + r.IntN(40) {
				top, err := tx.CreateBucketIfNotExists([]byte{'b', byte('0' + r.IntN(3))})
				if err != nil {
					return err
				}
				b := top
				for depth := r.IntN(3); depth > 0; depth-- {
					nb, err := b.CreateBucketIfNotExists([]byte{'n', byte('0' + r.IntN(2))})
					if err != nil {
						return err
					}
					b = nb
				}
				k := fmt.Appendf(nil, "k%04d", r.IntN(500))
				switch op := r.IntN(10); {
				case op < 6:
					var v []byte
					switch r.IntN(4) {
					case 0:
						v = []byte{} // empty, not a bucket
					case 1:
						v = bytes.Repeat([]byte{byte(r.IntN(256))}, 1500+r.IntN(3000)) // over a 1 KiB page
					default:
						v = fmt.Appendf(nil, "v%d", r.Int())
					}
					if err := b.Put(k, v); err != nil && !errors.Is(err, ErrIncompatibleValue) {
						return err
					}
				case op < 8:
					if err := b.Delete(k); err != nil && !errors.Is(err, ErrIncompatibleValue) {
						return err
					}
				case op < 9:
					if _, err := b.NextSequence(); err != nil {
						return err
					}
				default:
					if err := top.DeleteBucket([]byte("n1")); err != nil && !errors.Is(err, ErrBucketNotFound) {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompact copies random trees with transactions of several sizes
// (one entry each, a few KiB, unbounded) and compares every bucket,
// sequence, key and value; the copy packs its pages, so it is no larger.
func TestCompact(t *testing.T) {
	for seed := range uint64(4) {
		for _, max := range []int64{0, 1, 4096, 1 << 20} {
			t.Run(fmt.Sprintf("seed=%d/max=%d", seed, max), func(t *testing.T) {
				src := openTest(t, nil)
				fillRandom(t, src, rand.New(rand.NewPCG(seed, 21)), 30)
				dst := openTest(t, &Options{PageSize: 1024, NoSync: max == 1})
				if err := Compact(dst, src, max); err != nil {
					t.Fatal(err)
				}
				want, got := dumpTree(t, src), dumpTree(t, dst)
				if !slices.Equal(want, got) {
					t.Fatalf("copy differs: %d lines against %d\nfirst difference: %q", len(got), len(want), firstDiff(want, got))
				}
				covers(t, want)
				mustCheck(t, dst)
				srcUsed, dstUsed := usedPages(t, src), usedPages(t, dst)
				// NB: a copy committed in pieces fills a parent's leaf
				// while its inline buckets are still small; they grow in
				// later commits, and the full leaf splits (seed 1, max 1:
				// 204 pages against 200). In one transaction it packs.
				slack := uint64(0)
				if max > 0 && max < 1<<20 {
					slack = srcUsed / 20
				}
				if dstUsed > srcUsed+slack {
					t.Fatalf("copy uses %d pages, the source %d", dstUsed, srcUsed)
				}
				// The copy survives a reopen.
				dst = reopen(t, dst, &Options{PageSize: 1024})
				if got := dumpTree(t, dst); !slices.Equal(want, got) {
					t.Fatalf("copy differs after reopen: %q", firstDiff(want, got))
				}
			})
		}
	}
}

// covers fails unless a dump holds what TestCompact means to copy: nested
// buckets, empty values, values larger than a page and sequences.
func covers(t *testing.T, dump []string) {
	t.Helper()
	var nested, empty, large, seq bool
	for _, l := range dump {
		nested = nested || strings.Contains(l, `/"n`)
		empty = empty || strings.HasSuffix(l, "= (0)")
		large = large || strings.HasSuffix(l, ")") && len(l) > 3000
		seq = seq || strings.Contains(l, " seq=") && !strings.HasSuffix(l, " seq=0")
	}
	if !nested || !empty || !large || !seq {
		t.Fatalf("the source lacks a case (nested %v, empty %v, large %v, sequence %v)", nested, empty, large, seq)
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " | " + b[i]
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d, %d)", len(a), len(b))
}

// usedPages is the file's pages less its free ones.
func usedPages(t testing.TB, db *DB) uint64 {
	t.Helper()
	info, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(info.HighPage) - uint64(info.FreePages+info.PendingPages)
}

// TestCompactErrors: misuse gets the sentinel, names what failed, and
// changes nothing it should not.
func TestCompactErrors(t *testing.T) {
	src := openTest(t, nil)
	fillRandom(t, src, rand.New(rand.NewPCG(1, 2)), 3)
	before := dumpTree(t, src)

	if err := Compact(src, src, 0); !errors.Is(err, ErrCopyOntoDB) {
		t.Fatalf("Compact into itself: %v, want ErrCopyOntoDB", err)
	}
	if got := dumpTree(t, src); !slices.Equal(before, got) {
		t.Fatal("Compact into itself changed the database")
	}
	if err := Compact(nil, src, 0); !errors.Is(err, ErrDatabaseNotOpen) {
		t.Fatalf("Compact into nil: %v", err)
	}

	// A bucket that exists in dst: ErrBucketExists, naming it.
	dst := openTest(t, nil)
	if err := dst.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b1")); return err }); err != nil {
		t.Fatal(err)
	}
	err := Compact(dst, src, 0)
	if !errors.Is(err, ErrBucketExists) || !bytes.Contains([]byte(err.Error()), []byte(`"b1"`)) {
		t.Fatalf("Compact onto an existing bucket: %v, want ErrBucketExists naming \"b1\"", err)
	}
	// One transaction: nothing of the failed copy landed.
	got := dumpTree(t, dst)
	if len(got) != 1 || got[0] != `"b1" seq=0` {
		t.Fatalf("a failed one-transaction Compact left %q", got)
	}

	// A read-only dst.
	path := tempPath(t)
	ro, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	ro, err = Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := Compact(ro, src, 0); !errors.Is(err, ErrDatabaseReadOnly) {
		t.Fatalf("Compact into a read-only database: %v", err)
	}

	// A closed src: dst's transaction is rolled back, dst stays usable.
	path2 := tempPath(t)
	closed, err := Open(path2, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	dst2 := openTest(t, nil)
	if err := Compact(dst2, closed, 0); !errors.Is(err, ErrDatabaseNotOpen) {
		t.Fatalf("Compact from a closed database: %v", err)
	}
	if err := dst2.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }); err != nil {
		t.Fatalf("dst after a failed Compact: %v", err)
	}
	_ = os.Remove(path2)
}

// TestCompactWhileWritten: src takes commits while it is copied, and the
// copy holds one of its states whole. Every commit moves one unit between
// two buckets, so in any committed state their sums cancel.
func TestCompactWhileWritten(t *testing.T) {
	src := openTest(t, nil)
	err := src.Update(func(tx *Tx) error {
		for _, name := range []string{"a", "b"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := b.Put(fmt.Appendf(nil, "%04d", i), binary.AppendVarint(nil, 0)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var commits atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := src.Update(func(tx *Tx) error {
				ka, kb := fmt.Appendf(nil, "%04d", r.IntN(300)), fmt.Appendf(nil, "%04d", r.IntN(300))
				a, b := tx.Bucket([]byte("a")), tx.Bucket([]byte("b"))
				va, _ := binary.Varint(a.Get(ka))
				vb, _ := binary.Varint(b.Get(kb))
				if err := a.Put(ka, binary.AppendVarint(nil, va-1)); err != nil {
					return err
				}
				return b.Put(kb, binary.AppendVarint(nil, vb+1))
			})
			if err != nil {
				t.Error(err)
				return
			}
			commits.Add(1)
		}
	}()
	// Copies go on until the writer has committed meanwhile.
	for i := 0; i < 5 || commits.Load() < 20 && i < 1000; i++ {
		dst, err := Open(tempPath(t), 0o600, &Options{PageSize: 1024, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := Compact(dst, src, 256); err != nil {
			t.Fatal(err)
		}
		sums := map[string]int64{}
		err = dst.View(func(tx *Tx) error {
			return tx.ForEach(func(name []byte, b *Bucket) error {
				return b.ForEach(func(_, v []byte) error {
					n, _ := binary.Varint(v)
					sums[string(name)] += n
					return nil
				})
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		mustCheck(t, dst)
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
		if sums["a"]+sums["b"] != 0 {
			t.Fatalf("copy %d: sums %v: not one committed state", i, sums)
		}
	}
	close(stop)
	wg.Wait()
}

// TestCompactTxMaxSize: Compact commits dst in transactions of at most
// txMaxSize bytes of names, keys and values, an entry larger than that
// alone, and all in one for 0 or a negative txMaxSize (bbolt's commits
// every entry for a negative one).
func TestCompactTxMaxSize(t *testing.T) {
	src := openTest(t, nil)
	mustUpdate(t, src, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b")) // 1 byte
		if err != nil {
			return err
		}
		for i := range 10 { // 100 bytes each
			if err := b.Put(fmt.Appendf(nil, "k%d", i), make([]byte, 98)); err != nil {
				return err
			}
		}
		return b.Put([]byte("zz"), make([]byte, 1000)) // 1002 bytes
	})
	want := dumpTree(t, src)
	// 250: b k0 k1 | k2 k3 | k4 k5 | k6 k7 | k8 k9 | zz.
	for _, c := range []struct {
		max     int64
		commits int64
	}{{250, 6}, {0, 1}, {-1, 1}, {1 << 20, 1}} {
		dst := openTest(t, nil)
		before := dst.Stats().TxStats.Commits
		if err := Compact(dst, src, c.max); err != nil {
			t.Fatal(err)
		}
		if n := dst.Stats().TxStats.Commits - before; n != c.commits {
			t.Errorf("txMaxSize %d: %d commits, want %d", c.max, n, c.commits)
		}
		if got := dumpTree(t, dst); !slices.Equal(want, got) {
			t.Errorf("txMaxSize %d: copy differs: %q", c.max, firstDiff(want, got))
		}
	}
}
