package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
)

// Large values and the size limits, pushed as a demanding user would:
// values around page-size multiples up to tens of MiB, in direct and WAL
// mode, keys at MaxKeySize, a value one byte past MaxValueSize, the
// memory a big Put costs, and WAL commits whose record would be huge.

// lvValue is n random bytes from seed: incompressible, so the log's s2
// compression does not hide a record's size, and a value read from the
// wrong run or offset differs.
func lvValue(n int, seed byte) []byte {
	v := make([]byte, n)
	var key [32]byte
	key[0] = seed
	rand.NewChaCha8(key).Read(v)
	return v
}

// lvSizes are value sizes at the edges of a page of size ps: inline and
// out of line (ps/4), a run of one page and of two (ps less the 32-byte
// header), page multiples, and runs of many pages.
func lvSizes(ps int) []int {
	const hs = 32
	s := []int{0, 1, ps/4 - 1, ps / 4, ps/4 + 1, ps - hs - 1, ps - hs, ps - hs + 1, ps - 1, ps, ps + 1,
		2*ps - hs, 2*ps - hs + 1, 2 * ps, 3*ps + 7, 16*ps - hs, 16*ps - hs + 1,
		1<<20 - 4096, 1<<20 + 1} // around the 1 MiB of a WAL image record
	if !lvShort() {
		s = append(s, 3<<20+5)
	}
	return s
}

// lvShort shrinks the sizes that only make a test slower: with -short,
// and under the race detector, which pays for every byte copied.
func lvShort() bool { return testing.Short() || raceEnabled }

// lvUsed is the pages in use beyond the free and pending ones.
func lvUsed(t *testing.T, db *DB) (Info, int) {
	t.Helper()
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	return in, int(in.HighPage) - in.FreePages - in.PendingPages
}

// TestLargeValueSizes puts, overwrites (big to small and back), deletes
// and rolls back values of every lvSizes size in a nested bucket, in
// direct and WAL mode, checking the file after each transaction and the
// contents after each reopen with cursors both ways. A rolled-back
// transaction leaves the file's size, high water mark and free pages as
// they were; once the bucket is deleted, every page but the metas and
// the free list is free again.
func TestLargeValueSizes(t *testing.T) {
	for _, wal := range []bool{false, true} {
		for _, ps := range []int{1024, 4096} {
			t.Run(fmt.Sprintf("wal=%v/ps=%d", wal, ps), func(t *testing.T) {
				opts := &Options{PageSize: ps, WAL: wal, NoSync: true}
				db := openTest(t, opts)
				sizes := lvSizes(ps)
				model := map[string][]byte{}
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucket([]byte("b"))
					if err != nil {
						return err
					}
					_, err = b.CreateBucket([]byte("n"))
					return err
				})
				errRollback := errors.New("roll back")
				seed := byte(0)
				for round := 0; round < 2; round++ {
					for i, n := range sizes {
						seed++
						k := fmt.Sprintf("k%02d", (i*7+round)%len(sizes))
						v := lvValue(n, seed)
						del := (i+round)%4 == 0
						rollback := (i+round)%5 == 0
						before, _ := lvUsed(t, db)
						err := db.Update(func(tx *Tx) error {
							b := tx.Bucket([]byte("b")).Bucket([]byte("n"))
							if del {
								if err := b.Delete([]byte(k)); err != nil {
									return err
								}
							} else if err := b.Put([]byte(k), v); err != nil {
								return err
							}
							if got := b.Get([]byte(k)); !del && !bytes.Equal(got, v) {
								return fmt.Errorf("%s: read %d bytes back in the transaction, want %d", k, len(got), n)
							}
							if rollback {
								return errRollback
							}
							return nil
						})
						if rollback {
							if !errors.Is(err, errRollback) {
								t.Fatalf("rolled back transaction: %v", err)
							}
							after, _ := lvUsed(t, db)
							if after.FileSize != before.FileSize || after.HighPage != before.HighPage ||
								after.FreePages+after.PendingPages != before.FreePages+before.PendingPages {
								t.Fatalf("a rolled-back put of %d bytes changed the file: %+v, then %+v", n, before, after)
							}
							continue
						}
						if err != nil {
							t.Fatal(err)
						}
						if del {
							delete(model, k)
						} else {
							model[k] = v
						}
						mustCheck(t, db)
					}
					db = reopen(t, db, opts)
					err := db.View(func(tx *Tx) error {
						b := tx.Bucket([]byte("b")).Bucket([]byte("n"))
						n := 0
						c := b.Cursor()
						for k, v := c.First(); k != nil; k, v = c.Next() {
							if want, ok := model[string(k)]; !ok || !bytes.Equal(v, want) {
								return fmt.Errorf("forward: %s is %d bytes, want %d (present %v)", k, len(v), len(want), ok)
							}
							n++
						}
						for k, v := c.Last(); k != nil; k, v = c.Prev() {
							if !bytes.Equal(v, model[string(k)]) {
								return fmt.Errorf("backward: %s differs", k)
							}
							n--
						}
						if n != 0 || len(model) != b.Stats().KeyN {
							return fmt.Errorf("%d keys, model %d", b.Stats().KeyN, len(model))
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteBucket([]byte("b")) })
				db = reopen(t, db, opts)
				// The two metas and the free list's run: nothing else.
				if in, used := lvUsed(t, db); used > 4 {
					t.Fatalf("%d pages still in use with no bucket left: %+v", used, in)
				}
			})
		}
	}
}

// TestLargeValueManyInOneTx: a transaction of many large values, some
// replaced and deleted before the commit, rolled back leaves the file as
// it was; committed, it allocates only the runs of the values it keeps
// (a value replaced or deleted before its commit never had a run).
func TestLargeValueManyInOneTx(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			const ps = 4096
			db := openTest(t, &Options{PageSize: ps, WAL: wal, NoSync: true})
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			n := 48
			if lvShort() {
				n = 16
			}
			const size = 64<<10 + 1 // each a run of 17 pages
			fill := func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				for i := range n {
					k := []byte(fmt.Sprintf("v%02d", i))
					if err := b.Put(k, lvValue(2*size, byte(i))); err != nil {
						return err
					}
					if err := b.Put(k, lvValue(size, byte(i))); err != nil { // replaced before the commit
						return err
					}
					if i%2 == 1 {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			}
			before, used0 := lvUsed(t, db)
			errRollback := errors.New("roll back")
			if err := db.Update(func(tx *Tx) error {
				if err := fill(tx); err != nil {
					return err
				}
				return errRollback
			}); !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			after, used1 := lvUsed(t, db)
			if after.FileSize != before.FileSize || after.HighPage != before.HighPage || used1 != used0 {
				t.Fatalf("rollback changed the file: %+v, then %+v", before, after)
			}
			mustCheck(t, db)
			mustUpdate(t, db, fill)
			mustCheck(t, db)
			// 24 runs of 17 pages, plus a few pages of tree and free list.
			_, used2 := lvUsed(t, db)
			if grew, runs := used2-used1, n/2*17; grew < runs || grew > runs+8 {
				t.Fatalf("the commit took %d pages; its %d kept values need %d and a few for the tree", grew, n/2, runs)
			}
			if err := db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				for i := range n {
					got := b.Get([]byte(fmt.Sprintf("v%02d", i)))
					if want := lvValue(size, byte(i)); i%2 == 0 && !bytes.Equal(got, want) || i%2 == 1 && got != nil {
						return fmt.Errorf("v%02d: %d bytes", i, len(got))
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLargeValueKeyLimits: keys of exactly MaxKeySize, many of them with
// large values and sharing all but their last bytes (so separators are
// as long as keys), in 1 KiB pages, go in, come out and are deleted
// again; one byte more is ErrKeyTooLarge; an empty value reads back
// empty and non-nil; a value one byte past MaxValueSize is
// ErrValueTooLarge in both modes without being copied (it lives in
// address space only, PROT_NONE: a read of it would fault).
func TestLargeValueKeyLimits(t *testing.T) {
	huge, err := syscall.Mmap(-1, 0, MaxValueSize+1, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(huge)
	key := func(i int) []byte {
		k := bytes.Repeat([]byte{'k'}, MaxKeySize)
		copy(k[MaxKeySize-4:], fmt.Sprintf("%04d", i))
		return k
	}
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			const ps = 1024
			opts := &Options{PageSize: ps, WAL: wal, NoSync: true}
			db := openTest(t, opts)
			const n = 60
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range n {
					if err := b.Put(key(i), lvValue(i*97%(3*ps), byte(i))); err != nil {
						return err
					}
				}
				if _, err := b.CreateBucket(key(n)); err != nil {
					return fmt.Errorf("a bucket name of MaxKeySize: %w", err)
				}
				if err := b.Put([]byte("empty"), nil); err != nil {
					return err
				}
				over := append(key(0), 'x')
				wantIs(t, "Put of a key of MaxKeySize+1", b.Put(over, []byte("v")), ErrKeyTooLarge)
				_, err = b.CreateBucket(over)
				wantIs(t, "CreateBucket of a name of MaxKeySize+1", err, ErrKeyTooLarge)

				// Refused before anything is copied: the value is not
				// readable, and the heap does not grow by its size.
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				wantIs(t, "Put of MaxValueSize+1 bytes", b.Put([]byte("huge"), huge), ErrValueTooLarge)
				runtime.ReadMemStats(&m1)
				if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 1<<20 {
					t.Errorf("a refused Put of MaxValueSize+1 bytes allocated %d bytes", grew)
				}
				return nil
			})
			db = reopen(t, db, opts)
			if err := db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if v := b.Get([]byte("empty")); v == nil || len(v) != 0 {
					return fmt.Errorf("empty value read back as %v", v)
				}
				if b.Get([]byte("huge")) != nil {
					return errors.New("the refused value is there")
				}
				if b.Bucket(key(n)) == nil {
					return errors.New("the bucket named by a key of MaxKeySize is missing")
				}
				c := b.Cursor()
				i := 0
				for k, v := c.Seek(key(0)); k != nil && i < n; k, v = c.Next() {
					if !bytes.Equal(k, key(i)) || !bytes.Equal(v, lvValue(i*97%(3*ps), byte(i))) {
						return fmt.Errorf("key %d: %d-byte key, %d-byte value", i, len(k), len(v))
					}
					i++
				}
				if i != n {
					return fmt.Errorf("%d keys of MaxKeySize, want %d", i, n)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for r := range 3 {
				mustUpdate(t, db, func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					for i := r; i < n; i += 3 {
						if err := b.Delete(key(i)); err != nil {
							return err
						}
					}
					return nil
				})
				mustCheck(t, db)
			}
		})
	}
}

// lvCrashCopy copies the database at path and its log, as a process
// killed now leaves them (the page cache has every write), to a new
// directory, and returns the copy's path.
func lvCrashCopy(t *testing.T, path string) string {
	t.Helper()
	crash := filepath.Join(t.TempDir(), "crash.db")
	copyFile(t, path, crash)
	copyDir(t, LogDir(path), LogDir(crash))
	return crash
}

// TestLargeValueWALImageLimitReplay: with a WALImageLimit above the
// 64 MiB of pages replay takes from one record, a transaction of more
// than 64 MiB of pages was logged as a page-image record that Open then
// refused: an acknowledged commit made the database unopenable
// (ErrCorrupt) after a kill. Such a commit now logs its operations or
// goes straight to the file. Its pages: 16,500 values of 1,025 bytes,
// each out of line in a 4 KiB page (17 MiB of operations, 64.5 MiB of
// runs).
func TestLargeValueWALImageLimitReplay(t *testing.T) {
	path := tempPath(t)
	opts := &Options{PageSize: 4096, WAL: true, NoSync: true}
	db := openPath(t, path, opts)
	db.WALImageLimit = 256 << 20
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	const n, size = 16500, 1025
	// Zeros but for each value's number, which is cheap to make and to
	// log (s2), and still tells one value from another.
	vals := make([]byte, n*size)
	for i := range n {
		binary.LittleEndian.PutUint32(vals[i*size:], uint32(i)+1)
		vals[(i+1)*size-1] = byte(i)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range n {
			if err := b.Put(fmt.Appendf(nil, "%05d", i), vals[i*size:(i+1)*size]); err != nil {
				return err
			}
		}
		return nil
	})
	crash := lvCrashCopy(t, path)
	db2, err := Open(crash, 0o600, opts)
	if err != nil {
		t.Fatalf("reopen after a kill: %v", err)
	}
	defer closeChecked(t, db2)
	if err := db2.View(func(tx *Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		i := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(k) != fmt.Sprintf("%05d", i) || !bytes.Equal(v, vals[i*size:(i+1)*size]) {
				return fmt.Errorf("key %d: %q holds %d bytes", i, k, len(v))
			}
			i++
		}
		if i != n {
			return fmt.Errorf("%d keys after the reopen, want %d", i, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestLargeValueWALHugeRecord: with operations always logged, a 20 MiB
// value (10 with -short) is one log record larger than a log segment
// (8 MiB), which a kill right after the commit leaves for Open to replay.
// A value whose operation passes the 64 MiB a logical record holds
// commits straight to the file instead (TestWALLargeTransaction), as one
// whose page images pass 64 MiB does (TestLargeValueWALImageLimitReplay).
// The commit time is logged (NoSync: without the syncs).
func TestLargeValueWALHugeRecord(t *testing.T) {
	size := 20 << 20
	if lvShort() {
		size = 10 << 20
	}
	value := lvValue(size, 9) // random: the record takes the value's size
	path := tempPath(t)
	opts := &Options{PageSize: 4096, WAL: true, NoSync: true}
	db := openPath(t, path, opts)
	db.WALImageLimit = -1
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	before, _ := db.Info()
	start := time.Now()
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("big"), value) })
	took := time.Since(start)
	in, _ := db.Info()
	grew := in.LogBytes - before.LogBytes
	t.Logf("a %d MiB value committed in %v, %d bytes logged", size>>20, took, grew)
	if grew < int64(size) || in.LogPending == 0 {
		t.Fatalf("a %d-byte value logged %d bytes, %d commits pending: not in the log", size, grew, in.LogPending)
	}
	db2, err := Open(lvCrashCopy(t, path), 0o600, opts)
	if err != nil {
		t.Fatalf("reopen after a kill: %v", err)
	}
	defer closeChecked(t, db2)
	if in, _ := db2.Info(); in.Replayed == 0 {
		t.Errorf("the reopen replayed no commit")
	}
	if err := db2.View(func(tx *Tx) error {
		if got := tx.Bucket([]byte("b")).Get([]byte("big")); !bytes.Equal(got, value) {
			return fmt.Errorf("an acknowledged %d-byte value reads back as %d bytes", size, len(got))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestLargeValueMemory: a Put and commit of a 64 MiB value (8 MiB with
// -short) allocates two copies of it (the Put's own copy and the run it
// is written from at commit), in WAL mode too, whether or not the
// value's operation fits in a logical record (64 MiB): the operations
// refer to the Put's copy (which record to log is chosen at commit, once
// the page images are known). Before, they copied the value a third
// time. Measured with the collector off, so the figure is everything
// allocated: a bound on the peak.
func TestLargeValueMemory(t *testing.T) {
	const mib = 1 << 20
	size := 64 * mib
	if lvShort() {
		size = 8 * mib
	}
	for _, tc := range []struct {
		wal    bool
		size   int
		copies float64
	}{
		{false, size, 2},
		{true, size, 2},
		{true, size - 4096, 2},
	} {
		t.Run(fmt.Sprintf("wal=%v/size=%d", tc.wal, tc.size), func(t *testing.T) {
			db := openTest(t, &Options{PageSize: 4096, WAL: tc.wal, NoSync: true})
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			big := lvValue(tc.size, 1)
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			var m0, m1, m2 runtime.MemStats
			runtime.ReadMemStats(&m0)
			mustUpdate(t, db, func(tx *Tx) error {
				err := tx.Bucket([]byte("b")).Put([]byte("big"), big)
				runtime.ReadMemStats(&m1)
				return err
			})
			runtime.ReadMemStats(&m2)
			put := float64(m1.TotalAlloc-m0.TotalAlloc) / float64(tc.size)
			all := float64(m2.TotalAlloc-m0.TotalAlloc) / float64(tc.size)
			t.Logf("Put allocated %.2f copies, Put and commit %.2f (%.1f MiB; heap %.1f MiB before)",
				put, all, float64(m2.TotalAlloc-m0.TotalAlloc)/mib, float64(m0.HeapAlloc)/mib)
			if all > tc.copies+0.05 {
				t.Errorf("a %d-byte Put and commit allocated %.2f copies of the value, want at most %v", tc.size, all, tc.copies)
			}
		})
	}
}
