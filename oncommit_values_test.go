package folio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
)

// TestOnCommitValuesSurviveLaterCommits: README says the values a write
// transaction read stay valid in its OnCommit handlers. The handlers run
// once the write lock is free, so other writers commit while they run;
// the pages the transaction read must not be reused (or cut from the
// file) meanwhile. The transaction here only reads bucket "b"; while its
// handler waits, a later commit changes (or deletes) "b", which frees the
// pages the value lies in, and more commits follow: the handler then
// reads the value. It read another commit's page (the pages went back to
// the free list at once: no reader held the snapshot), or, once commits
// had given the file's tail back, faulted.
func TestOnCommitValuesSurviveLaterCommits(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		for _, change := range []string{"rewrite", "delete bucket"} {
			t.Run(fmt.Sprintf("wal=%v/%s", walMode, change), func(t *testing.T) {
				onCommitValueAfterCommits(t, walMode, change)
			})
		}
	}
}

func onCommitValueAfterCommits(t *testing.T, walMode bool, change string) {
	opts := &Options{PageSize: 1024}
	if walMode {
		opts = walOpts(1024)
	}
	db := openTest(t, opts)
	want := bytes.Repeat([]byte{'A'}, 200)
	// "b" holds the value among enough others (~700 KiB) that deleting
	// them leaves more than two growth steps of free tail to give back.
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("other")); err != nil {
			return err
		}
		for i := range 3000 {
			if err := b.Put(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{'F'}, 200)); err != nil {
				return err
			}
		}
		return b.Put([]byte("k99999"), want) // the last key: a page near the end
	})
	ready, goOn, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- func() error {
			<-ready
			defer close(goOn)
			if err := db.Update(func(tx *Tx) error {
				if change == "rewrite" {
					return tx.Bucket([]byte("b")).Put([]byte("k99999"), bytes.Repeat([]byte{'B'}, 200))
				}
				return tx.DeleteBucket([]byte("b"))
			}); err != nil {
				return err
			}
			for i := range 30 {
				if walMode {
					// Pages the last checkpoint reaches are reused only
					// after the next one.
					if err := db.Checkpoint(); err != nil {
						return err
					}
				}
				if err := db.Update(func(tx *Tx) error {
					o := tx.Bucket([]byte("other"))
					for j := range 10 {
						if err := o.Put(fmt.Appendf(nil, "%03d-%03d", i, j), bytes.Repeat([]byte{'X'}, 200)); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	var got []byte
	var fault any
	mustUpdate(t, db, func(tx *Tx) error {
		v := tx.Bucket([]byte("b")).Get([]byte("k99999"))
		if !bytes.Equal(v, want) {
			return fmt.Errorf("read %q", v)
		}
		tx.OnCommit(func() {
			close(ready)
			<-goOn
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { fault = recover() }()
			got = bytes.Clone(v)
		})
		return tx.Bucket([]byte("other")).Put([]byte("x"), []byte("y"))
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fault != nil {
		t.Fatalf("reading the value in the OnCommit handler: %v", fault)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the OnCommit handler read %q, want %q", got[:min(len(got), 24)], want[:24])
	}
}

// TestOnCommitValuesUnderConcurrentWriters: writers in four goroutines,
// through Update and Batch, either change bucket "b" or read a few of
// its values (changing only bucket "c": a change to "b" would end their
// validity, README says) and register a handler that compares them with
// copies once other commits have had a chance to run. Every handler must
// read what its transaction read (without the base snapshot's pages
// kept, some 30 values read another commit's bytes).
func TestOnCommitValuesUnderConcurrentWriters(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			opts := &Options{PageSize: 1024}
			if walMode {
				opts = &Options{PageSize: 1024, WAL: true, CheckpointBytes: 64 << 10}
			}
			db := openTest(t, opts)
			key := func(i int) []byte { return fmt.Appendf(nil, "k%04d", i) }
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range 500 {
					if err := b.Put(key(i), bytes.Repeat([]byte{byte(i)}, 100+i%200)); err != nil {
						return err
					}
				}
				return nil
			})
			var mu sync.Mutex
			var bad []string
			var commits atomic.Int64 // calls returned
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(testSeed(t), uint64(g)))
					for range 150 {
						fn := func(tx *Tx) error {
							b := tx.Bucket([]byte("b"))
							if rng.IntN(2) == 0 {
								for range 3 {
									var err error
									if i := rng.IntN(500); rng.IntN(3) == 0 {
										err = b.Delete(key(i))
									} else {
										err = b.Put(key(i), bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(400)))
									}
									if err != nil {
										return err
									}
								}
								return nil
							}
							var vs, copies [][]byte
							for range 5 {
								v := b.Get(key(rng.IntN(500)))
								vs, copies = append(vs, v), append(copies, bytes.Clone(v))
							}
							tx.OnCommit(func() {
								// Let a few other commits run (a bounded
								// wait: the others may all be in handlers).
								from := commits.Load()
								for i := 0; i < 2000 && commits.Load() < from+4; i++ {
									runtime.Gosched()
								}
								defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
								defer func() {
									if r := recover(); r != nil {
										mu.Lock()
										bad = append(bad, fmt.Sprint("fault: ", r))
										mu.Unlock()
									}
								}()
								for i := range vs {
									if !bytes.Equal(vs[i], copies[i]) {
										mu.Lock()
										bad = append(bad, fmt.Sprintf("%.16q, want %.16q", vs[i], copies[i]))
										mu.Unlock()
									}
								}
							})
							c, err := tx.CreateBucketIfNotExists([]byte("c"))
							if err != nil {
								return err
							}
							return c.Put(key(rng.IntN(500)), []byte("v"))
						}
						var err error
						if rng.IntN(2) == 0 {
							err = db.Batch(fn)
						} else {
							err = db.Update(fn)
						}
						commits.Add(1)
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if len(bad) > 0 {
				t.Errorf("%d values changed under their OnCommit handlers; first: %s", len(bad), bad[0])
			}
		})
	}
}

// TestOnCommitHandlerMayClose: a handler may close the database, as in
// bbolt (its handlers run after the write lock is released). The pages
// kept for the handlers (7c4b198) are not a reader's pin, which Close
// would wait for forever.
func TestOnCommitHandlerMayClose(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			path := tempPath(t)
			opts := &Options{PageSize: 1024, WAL: walMode}
			db, err := Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			var closeErr error
			closed := false
			if err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				tx.OnCommit(func() { closeErr, closed = db.Close(), true })
				return b.Put([]byte("k"), []byte("v"))
			}); err != nil {
				t.Fatal(err)
			}
			if !closed || closeErr != nil {
				t.Fatalf("Close in the handler: ran %v, %v", closed, closeErr)
			}
			db, err = Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer closeChecked(t, db)
			if err := db.View(func(tx *Tx) error {
				if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
					return fmt.Errorf("k = %q after reopen", v)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestValuesOutliveChangesToOtherBuckets: in a write transaction, a
// value (or a cursor's key and value) stays valid until the next change
// to its own bucket, as Bucket.Get says: splits, large values and a
// bucket deletion elsewhere in the transaction leave it alone, whether
// it lies in a committed page or in one the transaction wrote. (Under
// -tags invariants a released buffer is poisoned, so reuse shows.)
func TestValuesOutliveChangesToOtherBuckets(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024})
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 50) }
	mustUpdate(t, db, func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("b")); err != nil {
			return err
		}
		for i := range 300 {
			if err := a.Put(fmt.Appendf(nil, "k%04d", i), val(i)); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error {
		a, b := tx.Bucket([]byte("a")), tx.Bucket([]byte("b"))
		if err := a.Put([]byte("k0150"), val('N')); err != nil {
			return err
		}
		written, committed := a.Get([]byte("k0150")), a.Get([]byte("k0010"))
		k, v := a.Cursor().Seek([]byte("k0200"))
		for i := range 3000 {
			if err := b.Put(fmt.Appendf(nil, "x%05d", i), make([]byte, 60)); err != nil {
				return err
			}
			if i%100 == 0 {
				nb, err := b.CreateBucket(fmt.Appendf(nil, "nb%d", i))
				if err != nil {
					return err
				}
				if err := nb.Put([]byte("q"), make([]byte, 2000)); err != nil {
					return err
				}
			}
		}
		if err := tx.DeleteBucket([]byte("b")); err != nil {
			return err
		}
		if !bytes.Equal(written, val('N')) || !bytes.Equal(committed, val(10)) || string(k) != "k0200" || !bytes.Equal(v, val(200)) {
			t.Errorf("values read before changes to another bucket now read %q, %q, %q = %q", written, committed, k, v)
		}
		return nil
	})
}
