package folio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFile copies src to dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
}

// tearLastRecord zeroes the last 64 bytes written to the newest segment
// of the log in dir, as a crash during the last append would leave it.
func tearLastRecord(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var newest string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") && e.Name() > newest {
			newest = e.Name()
		}
	}
	p := filepath.Join(dir, newest)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	end := len(data)
	for end > 0 && data[end-1] == 0 {
		end--
	}
	if end < 64 {
		t.Fatalf("segment %s holds no record", newest)
	}
	clear(data[end-64 : end])
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// randomPuts commits n transactions to bucket "b", each putting per
// random keys of keys possible ones with values of up to pad filler
// bytes, and returns the bucket's contents after each commit.
func randomPuts(t *testing.T, db *DB, rng *rand.Rand, n, per, keys, pad int) []map[string]string {
	t.Helper()
	model := map[string]string{}
	var models []map[string]string
	for i := range n {
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for j := range per {
				k := fmt.Sprintf("k%04d", rng.IntN(keys))
				v := fmt.Sprintf("%d-%d-%s", i, j, bytes.Repeat([]byte("x"), rng.IntN(pad)))
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
				model[k] = v
			}
			return nil
		})
		models = append(models, maps.Clone(model))
	}
	return models
}

// walOpts keeps checkpoints away unless a test asks for them.
func walOpts(ps int) *Options {
	return &Options{PageSize: ps, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
}

func TestWALCommitReopen(t *testing.T) {
	db := openTest(t, walOpts(1024))
	for i := 0; i < 50; i++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			return b.Put([]byte(fmt.Sprintf("k%03d", i)), bytes.Repeat([]byte{byte(i)}, 100))
		})
	}
	in, _ := db.Info()
	if in.LogBytes == 0 || in.LogPending != 50 {
		t.Fatalf("log %d bytes, %d pending, want 50 pending commits", in.LogBytes, in.LogPending)
	}
	db = reopen(t, db, walOpts(1024))
	err := db.View(func(tx *Tx) error {
		for i := 0; i < 50; i++ {
			if v := tx.Bucket([]byte("b")).Get([]byte(fmt.Sprintf("k%03d", i))); !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 100)) {
				return fmt.Errorf("key %d lost", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := db.Info(); in.LogPending != 0 || in.Freelist == 0 {
		t.Fatalf("a clean close left %d commits in the log, free list at page %d", in.LogPending, in.Freelist)
	}
}

// TestWALReplay puts the file as it was at a checkpoint beside the log of
// later commits, as a crash that lost every unsynced page of the file
// would leave them: opening replays the log and gets every commit back.
func TestWALReplay(t *testing.T) {
	for _, name := range []string{"replay", "torn-tail"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.db")
			db, err := Open(path, 0o600, walOpts(1024))
			if err != nil {
				t.Fatal(err)
			}
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			copyFile(t, path, filepath.Join(dir, "crash.db"))
			rng := rand.New(rand.NewPCG(testSeed(t), 2))
			models := randomPuts(t, db, rng, 40, 30, 500, 600) // after each commit
			copyDir(t, LogDir(path), LogDir(filepath.Join(dir, "crash.db")))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			crash := filepath.Join(dir, "crash.db")
			model := models[len(models)-1]
			if name == "torn-tail" {
				// The last record half written: replay stops at the one
				// before it, and that commit was never acknowledged.
				tearLastRecord(t, LogDir(crash))
				model = models[len(models)-2]
			}
			// A read-only open must not show the older state.
			if name == "replay" {
				if _, err := Open(crash, 0o600, &Options{ReadOnly: true}); !errors.Is(err, ErrLogPending) {
					t.Fatalf("read-only open with a pending log: %v, want ErrLogPending", err)
				}
			}
			db2, err := Open(crash, 0o600, walOpts(1024))
			if err != nil {
				t.Fatal(err)
			}
			defer closeChecked(t, db2)
			compareKV(t, db2, "b", model)
		})
	}
}

// TestWALRandomizedModel is the model test in WAL mode, with frequent
// checkpoints and reopens.
func TestWALRandomizedModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	opts := &Options{PageSize: 1024, WAL: true, CheckpointBytes: 256 << 10, NoSync: rng.IntN(2) == 0}
	db := openTest(t, opts)
	model := newMBucket()
	for round := 0; round < 80**roundsMul; round++ {
		next := model.clone()
		err := db.Update(func(tx *Tx) error {
			for i, n := 0, 1+rng.IntN(40); i < n; i++ {
				if err := randomOp(rng, tx, next, 1024); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		model = next
		compareDB(t, db, model)
		if rng.IntN(10) == 0 {
			db = reopen(t, db, opts)
			compareDB(t, db, model)
		}
	}
}

// TestWALLeave: opening without WAL replays the log and removes it.
func TestWALLeave(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, walOpts(4096))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		return b.Put([]byte("k"), []byte("v"))
	})
	db.Close()
	db, err = Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if _, err := os.Stat(LogDir(path)); !os.IsNotExist(err) {
		t.Fatalf("log directory still there: %v", err)
	}
	if err := db.View(func(tx *Tx) error {
		if string(tx.Bucket([]byte("b")).Get([]byte("k"))) != "v" {
			return errors.New("lost the logged commit")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWALLargeTransaction: a transaction whose logged operations would
// pass 64 MiB commits directly (a checkpoint: its data is written once,
// to the file) and survives a crash without the log.
func TestWALLargeTransaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	db, err := Open(path, 0o600, walOpts(4096))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 65<<20)
	for i := 0; i < len(big); i += 512 {
		big[i] = byte(i >> 10)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		return b.Put([]byte("big"), big)
	})
	if in, _ := db.Info(); in.LogPending != 0 {
		t.Fatalf("%d commits pending: the big one should have checkpointed", in.LogPending)
	}
	copyFile(t, path, filepath.Join(dir, "crash.db")) // no log at all
	db.Close()
	db2, err := Open(filepath.Join(dir, "crash.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db2)
	if err := db2.View(func(tx *Tx) error {
		if !bytes.Equal(tx.Bucket([]byte("b")).Get([]byte("big")), big) {
			return errors.New("big value lost")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWALReusesPagesBetweenCheckpoints: runs written after the last
// checkpoint are reused as soon as no reader needs them, so small commits
// between checkpoints do not grow the file; runs the checkpoint reaches
// are held until the next one, and reused after it.
func TestWALReusesPagesBetweenCheckpoints(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%04d", i) }
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 1000 {
			if err := b.Put(key(i), make([]byte, 40)); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	at, _ := db.Info()
	rng := rand.New(rand.NewPCG(testSeed(t), 9))
	for n := range 3000 {
		mustUpdate(t, db, func(tx *Tx) error {
			return tx.Bucket([]byte("b")).Put(key(rng.IntN(1000)), fmt.Appendf(nil, "%040d", n))
		})
	}
	after, _ := db.Info()
	// Each commit rewrites a leaf and its parents (~3 pages): without
	// reuse, 3000 commits would add ~9000 pages; the tree has ~60. The
	// bound allows the checkpoint's whole tree held, twice over.
	if grown := after.HighPage - at.HighPage; grown > 2*at.HighPage {
		t.Fatalf("3000 one-put commits between checkpoints grew the file from %d to %d pages", at.HighPage, after.HighPage)
	}
	held := after.PendingPages
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(key(0), []byte("x")) })
	if in, _ := db.Info(); in.FreePages == 0 || in.PendingPages >= held {
		t.Fatalf("after a checkpoint, free %d and pending %d pages (pending %d before): the held runs were not released", in.FreePages, in.PendingPages, held)
	}
	mustCheck(t, db)
	db = reopen(t, db, walOpts(1024))
	mustCheck(t, db)
}

// TestWALSequentialLoadCommitsDirectly: a transaction whose operations
// would save little over its page images and whose images pass 1 MiB (a
// load in key order) commits directly, a checkpoint, even right after
// small commits logged their operations; a copy of the file alone, as a
// crash right after it leaves, holds everything.
func TestWALSequentialLoadCommitsDirectly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	db, err := Open(path, 0o600, walOpts(4096))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	if in, _ := db.Info(); in.LogPending != 1 {
		t.Fatalf("%d commits pending, want the bucket's, logged", in.LogPending)
	}
	val := bytes.Repeat([]byte{'v'}, 100)
	for round := 0; round < 3; round++ {
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := 0; i < 10_000; i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%03d-%06d", round, i)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if in, _ := db.Info(); in.LogPending != 0 || in.CheckpointTxID != in.TxID {
			t.Fatalf("round %d: %d commits pending, checkpoint at txid %d of %d: the load should have committed directly",
				round, in.LogPending, in.CheckpointTxID, in.TxID)
		}
	}
	copyFile(t, path, filepath.Join(dir, "crash.db")) // no log at all
	closeChecked(t, db)
	db2, err := Open(filepath.Join(dir, "crash.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db2)
	if err := db2.View(func(tx *Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 30_000 {
			return fmt.Errorf("%d keys, want 30,000", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWALZeroValueReopens: a large value of zero bytes, logged as a page
// image, reopens. Its run trims to less than a page header in the record,
// and the decoder refused that: the next Open failed with ErrCorrupt,
// even after a clean Close (the record stays in the log's segment).
func TestWALZeroValueReopens(t *testing.T) {
	for _, limit := range []int{0, 1 << 20} {
		t.Run(fmt.Sprintf("WALImageLimit=%d", limit), func(t *testing.T) {
			opts := &Options{WAL: true}
			db := openTest(t, opts)
			db.WALImageLimit = limit
			mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			// Rewriting one key 50 times makes the operations outweigh a
			// quarter of the pages, so even the default logs the images.
			mustUpdate(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				for i := range 50 {
					if err := b.Put([]byte("counter"), []byte(fmt.Sprintf("%0100d", i))); err != nil {
						return err
					}
				}
				return b.Put([]byte("zeros"), make([]byte, 2000))
			})
			db = reopen(t, db, opts)
			err := db.View(func(tx *Tx) error {
				if v := tx.Bucket([]byte("b")).Get([]byte("zeros")); !bytes.Equal(v, make([]byte, 2000)) {
					return fmt.Errorf("zeros reads back %d bytes, not 2000 zeros", len(v))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
