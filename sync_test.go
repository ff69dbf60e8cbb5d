package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodb/folio/tx"
)

// hangGuard fails a test whose call deadlocks, instead of hanging the
// suite: within gives fn a minute (hangAfter), and the database opened by
// openGuarded is then left open (closing it would wait for the writer
// that is stuck).
type hangGuard struct{ hung atomic.Bool }

func openGuarded(t *testing.T, opts *Options) (*DB, *hangGuard) {
	t.Helper()
	g := &hangGuard{}
	db, err := Open(tempPath(t), 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !g.hung.Load() {
			closeChecked(t, db)
		}
	})
	return db, g
}

func (g *hangGuard) within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(hangAfter):
		g.hung.Store(true)
		t.Fatalf("%s: no return after %v (deadlock)", what, hangAfter)
	}
}

// hangAfter is how long within waits. TestSyncBesideCommits fsyncs in a
// loop: 0.7 s a subtest alone, 2.3 s beside a writer that fsyncs; a
// deadlock needs no tighter bound than this.
const hangAfter = 60 * time.Second

// TestSyncInsideUpdate calls Sync from inside Update and Batch functions,
// as bbolt allows (its Sync is an fdatasync): it returns, and the commit
// goes on. Sync used to take the write lock and wait for itself.
func TestSyncInsideUpdate(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			db, g := openGuarded(t, &Options{PageSize: 1024, NoSync: true, WAL: wal})
			g.within(t, "Sync inside Update", func() {
				err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucket([]byte("b"))
					if err != nil {
						return err
					}
					if err := b.Put([]byte("k"), []byte("v")); err != nil {
						return err
					}
					return db.Sync()
				})
				if err != nil {
					t.Error(err)
				}
			})
			g.within(t, "Sync inside Batch", func() {
				var wg sync.WaitGroup
				for i := 0; i < 4; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						err := db.Batch(func(tx *Tx) error {
							if err := tx.Bucket([]byte("b")).Put([]byte{byte(i)}, []byte("v")); err != nil {
								return err
							}
							return db.Sync()
						})
						if err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			})
			err := db.View(func(tx *Tx) error {
				if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 5 {
					return fmt.Errorf("%d keys, want 5", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSyncBesideCommits runs Sync from other goroutines, and from inside
// write transactions, while writers commit (run it under -race): every
// call returns and every commit is there.
func TestSyncBesideCommits(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			db, g := openGuarded(t, &Options{PageSize: 1024, NoSync: true, WAL: wal, CheckpointBytes: 8 << 10})
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			const writers, commits = 2, 60
			g.within(t, "Sync beside commits", func() {
				var wg sync.WaitGroup
				stop := make(chan struct{})
				var syncers sync.WaitGroup
				syncers.Add(1)
				go func() {
					defer syncers.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if err := db.Sync(); err != nil {
							t.Error(err)
							return
						}
					}
				}()
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < commits; i++ {
							put := func(tx *Tx) error {
								if err := tx.Bucket([]byte("b")).Put([]byte(fmt.Sprintf("w%d-%03d", w, i)), make([]byte, 200)); err != nil {
									return err
								}
								if i%4 == 0 {
									return db.Sync()
								}
								return nil
							}
							var err error
							if i%2 == 0 {
								err = db.Batch(put)
							} else {
								err = db.Update(put)
							}
							if err != nil {
								t.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				close(stop)
				syncers.Wait()
			})
			err := db.View(func(tx *Tx) error {
				if n := tx.Bucket([]byte("b")).Stats().KeyN; n != writers*commits {
					return fmt.Errorf("%d keys, want %d", n, writers*commits)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSyncMakesNoSyncCommitsDurable commits with NoSync, calls Sync and
// builds the image a power cut would leave (only what was synced, file
// and log): it holds every commit. In WAL mode the commits since the last
// checkpoint are only in the log, and a NoSync checkpoint writes the
// file's meta unsynced and drops the log before it, so Sync must sync
// both (it used to sync the file alone). A Sync inside the last Update
// covers the commits before it.
func TestSyncMakesNoSyncCommitsDurable(t *testing.T) {
	const ps, txns = 1024, 40
	for _, wal := range []bool{false, true} {
		for _, inside := range []bool{false, true} {
			t.Run(fmt.Sprintf("wal=%v/inside=%v", wal, inside), func(t *testing.T) {
				opts := &Options{NoSync: true, WAL: wal, CheckpointBytes: 4 << 10}
				st := newCrashStorage(t, tx.InitialImage(ps))
				var lg *crashLog
				var db *DB
				var err error
				if wal {
					lg = newCrashLog(st)
					db, err = tx.OpenWithLog("crash.db", st, lg, opts)
				} else {
					db, err = tx.Open("crash.db", st, opts)
				}
				if err != nil {
					t.Fatal(err)
				}
				db.AllocSize = 4 * ps
				for i := 1; i <= txns; i++ {
					mustPutIn(t, db, "b", []byte(fmt.Sprintf("k%03d", i)), bytes.Repeat([]byte{byte(i)}, 300))
				}
				if in, _ := db.Info(); wal && in.CheckpointTxID < 10 {
					t.Fatalf("checkpoint at txid %d: want NoSync checkpoints among the commits", in.CheckpointTxID)
				}
				var syncErr error
				if inside {
					// It covers the commits before this one only.
					var g hangGuard
					g.within(t, "Sync inside Update", func() {
						syncErr = db.Update(func(tx *Tx) error {
							if err := tx.Bucket([]byte("b")).Put([]byte("after"), []byte("x")); err != nil {
								return err
							}
							return db.Sync()
						})
					})
				} else {
					syncErr = db.Sync()
				}
				if syncErr != nil {
					t.Fatal(syncErr)
				}
				rng := rand.New(rand.NewPCG(1, 2))
				img := st.image(st.opCount(), imageSynced, ps, rng)
				var db2 *DB
				st2 := newCrashStorage(t, img)
				if wal {
					li := lg.image(lg.opCount(), logSynced, rng)
					db2, err = tx.OpenWithLog("crash.db", st2, newCrashLogWith(st2, li.whole()), opts)
				} else {
					db2, err = tx.Open("crash.db", st2, opts)
				}
				if err != nil {
					t.Fatalf("open the synced image: %v", err)
				}
				defer db2.Close()
				err = db2.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if b == nil {
						return errors.New("bucket lost")
					}
					for i := 1; i <= txns; i++ {
						if v := b.Get([]byte(fmt.Sprintf("k%03d", i))); !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 300)) {
							return fmt.Errorf("commit %d of %d lost", i, txns)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				_ = db.Close()
			})
		}
	}
}

// overlapStorage counts file syncs that run beside one another.
type overlapStorage struct {
	tx.Storage
	active, overlaps atomic.Int32
}

func (s *overlapStorage) SyncRange(off, n int64) error {
	defer s.enter()()
	return s.Storage.SyncRange(off, n)
}

func (s *overlapStorage) Grow(size int64, sync bool) error {
	if sync {
		defer s.enter()()
	}
	return s.Storage.Grow(size, sync)
}

func (s *overlapStorage) enter() (leave func()) {
	if s.active.Add(1) > 1 {
		s.overlaps.Add(1)
	}
	for range 3 {
		runtime.Gosched() // give another sync its chance to come in
	}
	return func() { s.active.Add(-1) }
}

// TestSyncNeverBesideCommitSync runs Sync, from other goroutines and from
// inside write transactions, while synced commits run: no Sync of the
// file overlaps a commit's syncs. The file has one descriptor, and Linux
// reports a failed writeback to one of the syncs then running: a Sync
// beside a commit's could take the commit's error, and the commit would
// write its meta over pages the disk lost.
func TestSyncNeverBesideCommitSync(t *testing.T) {
	st := &overlapStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(1024)), false, false, 0)}
	db, err := tx.Open("overlap.db", st, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 16 << 10
	g := &hangGuard{}
	defer func() {
		if !g.hung.Load() {
			_ = db.Close()
		}
	}()
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	g.within(t, "Sync beside synced commits", func() {
		stop := make(chan struct{})
		var wg, syncers sync.WaitGroup
		for range 2 {
			syncers.Add(1)
			go func() {
				defer syncers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := db.Sync(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					err := db.Update(func(tx *Tx) error {
						if i%3 == 0 {
							if err := db.Sync(); err != nil {
								return err
							}
						}
						return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprintf("w%d-%03d", w, i)), make([]byte, 300))
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		syncers.Wait()
	})
	if n := st.overlaps.Load(); n > 0 {
		t.Errorf("%d file syncs ran beside another", n)
	}
}
