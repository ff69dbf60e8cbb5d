package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/foliodb/folio/wal"
)

// logicalOpts is WAL mode with checkpoints only when a test asks.
func logicalOpts() *Options {
	return &Options{PageSize: 1024, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour}
}

// rewriteMany loads 20,000 small values into b0 (page-image records), then
// rewrites every eighth in one transaction: its page images pass 1 MiB,
// its keys and values take a tenth of that, so it logs its operations,
// and so does every commit after it until the next checkpoint.
func rewriteMany(t *testing.T, db *DB, m *mbucket) {
	t.Helper()
	if m.subs["b0"] == nil {
		m.subs["b0"] = newMBucket()
	}
	const n = 20000
	for start := 0; start < n; start += 1000 {
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b0"))
			if err != nil {
				return err
			}
			for i := start; i < start+1000; i++ {
				k, v := fmt.Sprintf("f%05d", i), fmt.Sprintf("%040d", i)
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
				m.subs["b0"].kv[k] = v
			}
			return nil
		})
	}
	before, _ := db.Info()
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("b0"))
		for i := 0; i < n; i += 8 {
			k, v := fmt.Sprintf("f%05d", i), fmt.Sprintf("%039dx", i)
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
			m.subs["b0"].kv[k] = v
		}
		return nil
	})
	if in, _ := db.Info(); in.LogPending != before.LogPending+1 {
		t.Fatalf("after the big commit %d commits pending, want %d: it was logged, not checkpointed", in.LogPending, before.LogPending+1)
	}
}

// specialOps runs, by round, the operations randomOp does not: moving a
// bucket (into another, then to the top), setting a sequence, and two
// cursor Deletes in a row (the second removes the key that followed).
func specialOps(t *testing.T, tx *Tx, m *mbucket, round int) error {
	switch round % 5 {
	case 0:
		m1, err := tx.CreateBucketIfNotExists([]byte("m1"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists([]byte("m2")); err != nil {
			return err
		}
		for _, n := range []string{"m1", "m2"} {
			if m.subs[n] == nil {
				m.subs[n] = newMBucket()
			}
		}
		if mv := m1.Bucket([]byte("mv")); mv == nil && m.subs["mv"] == nil {
			mv, err := m1.CreateBucket([]byte("mv"))
			if err != nil {
				return err
			}
			if err := mv.Put([]byte("x"), []byte(fmt.Sprint(round))); err != nil {
				return err
			}
			sub := newMBucket()
			sub.kv["x"] = fmt.Sprint(round)
			m.subs["m1"].subs["mv"] = sub
		}
	case 1:
		src, dst := tx.Bucket([]byte("m1")), tx.Bucket([]byte("m2"))
		if src == nil || dst == nil || src.Bucket([]byte("mv")) == nil {
			return nil
		}
		if err := tx.MoveBucket([]byte("mv"), src, dst); err != nil {
			return err
		}
		m.subs["m2"].subs["mv"] = m.subs["m1"].subs["mv"]
		delete(m.subs["m1"].subs, "mv")
		if err := dst.Bucket([]byte("mv")).Put([]byte("y"), []byte("moved")); err != nil {
			return err
		}
		m.subs["m2"].subs["mv"].kv["y"] = "moved"
	case 2:
		src := tx.Bucket([]byte("m2"))
		if src == nil || src.Bucket([]byte("mv")) == nil || tx.Bucket([]byte("mv")) != nil {
			return nil
		}
		if err := tx.MoveBucket([]byte("mv"), src, nil); err != nil {
			return err
		}
		m.subs["mv"] = m.subs["m2"].subs["mv"]
		delete(m.subs["m2"].subs, "mv")
	case 3:
		b := tx.Bucket([]byte("m1"))
		if b == nil {
			return nil
		}
		v := uint64(1000 + round)
		if err := b.SetSequence(v); err != nil {
			return err
		}
		m.subs["m1"].seq = v
	case 4:
		b := tx.Bucket([]byte("m1"))
		if b == nil {
			return nil
		}
		for _, k := range []string{"d1", "d2", "d3"} {
			if err := b.Put([]byte(k), []byte(k)); err != nil {
				return err
			}
			m.subs["m1"].kv[k] = k
		}
		c := b.Cursor()
		if k, _ := c.Seek([]byte("d1")); string(k) != "d1" {
			return fmt.Errorf("seek d1 found %q", k)
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		// Whatever the cursor removed, the model follows the bucket: the
		// replay must remove the same keys.
		for _, k := range []string{"d1", "d2", "d3"} {
			if b.Get([]byte(k)) == nil {
				delete(m.subs["m1"].kv, k)
			}
		}
		if len(m.subs["m1"].kv) > 0 && b.Get([]byte("d1")) != nil {
			return errors.New("cursor Delete left d1")
		}
	}
	return nil
}

// TestWALLogicalReplay: after a transaction too big for page images,
// commits log their operations until the next checkpoint. A crash that
// keeps only the checkpointed file and the log gets every acknowledged
// commit back (every kind of operation, nested and moved buckets); a
// torn last record loses only that commit; and the replayed file is
// checkpointed, so a second open replays nothing.
func TestWALLogicalReplay(t *testing.T) {
	for _, name := range []string{"replay", "torn-tail", "images-first"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path, crash := filepath.Join(dir, "a.db"), filepath.Join(dir, "crash.db")
			db, err := Open(path, 0o600, logicalOpts())
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(testSeed(t), 41))
			model := newMBucket()
			if name != "images-first" {
				// images-first keeps the file at its creation, so the
				// replay applies page images, then operations.
				mustUpdate(t, db, func(tx *Tx) error { return randomOp(rng, tx, model, 1024) })
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			copyFile(t, path, crash)
			var models []*mbucket
			commit := func(fn func(tx *Tx, m *mbucket) error) {
				next := model.clone()
				if err := db.Update(func(tx *Tx) error { return fn(tx, next) }); err != nil {
					t.Fatal(err)
				}
				model = next
				models = append(models, model.clone())
			}
			if name == "images-first" {
				for range 5 {
					commit(func(tx *Tx, m *mbucket) error { return randomOp(rng, tx, m, 1024) })
				}
			}
			rewriteMany(t, db, model)
			models = append(models, model.clone())
			for round := range 60 {
				commit(func(tx *Tx, m *mbucket) error {
					if err := specialOps(t, tx, m, round); err != nil {
						return err
					}
					for i, n := 0, 1+rng.IntN(20); i < n; i++ {
						if err := randomOp(rng, tx, m, 1024); err != nil {
							return err
						}
					}
					return nil
				})
			}
			compareDB(t, db, model)
			copyDir(t, LogDir(path), LogDir(crash))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			want := models[len(models)-1]
			if name == "torn-tail" {
				tearLastRecord(t, LogDir(crash))
				want = models[len(models)-2]
			}
			if _, err := Open(crash, 0o600, &Options{ReadOnly: true}); !errors.Is(err, ErrLogPending) {
				t.Fatalf("read-only open with logged operations pending: %v, want ErrLogPending", err)
			}
			db2, err := Open(crash, 0o600, logicalOpts())
			if err != nil {
				t.Fatal(err)
			}
			compareDB(t, db2, want)
			mustCheck(t, db2)
			if in, _ := db2.Info(); in.LogPending != 0 {
				t.Fatalf("after the replay %d commits pending, want 0 (checkpointed)", in.LogPending)
			}
			// The replayed state goes on taking commits, and reopens.
			mustUpdate(t, db2, func(tx *Tx) error { return randomOp(rng, tx, want, 1024) })
			db2 = reopen(t, db2, logicalOpts())
			compareDB(t, db2, want)
			closeChecked(t, db2)
		})
	}
}

// TestWALLogicalReplayMismatch: a logged operation that does not apply to
// the file (here: deleting a bucket it does not hold) fails Open with
// ErrCorrupt, and the failed replay leaves the file and the log as they
// were, so every later open reports the same instead of losing records.
func TestWALLogicalReplayMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := Open(path, 0o600, logicalOpts())
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	appendDropBucket(t, path)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := Open(path, 0o600, logicalOpts()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open with a record that does not apply: %v, want ErrCorrupt", err)
		}
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("the failed replay changed the file (%v)", err)
		}
	}
}

// appendDropBucket logs, past the file's state, a logical record that
// drops a bucket the file does not hold (TestWALLogicalReplayMismatch).
func appendDropBucket(t testing.TB, path string) {
	t.Helper()
	db, err := Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 24)
	copy(rec, "fTXR")
	binary.LittleEndian.PutUint32(rec[4:], 3)
	binary.LittleEndian.PutUint64(rec[8:], uint64(in.TxID)+1)
	binary.LittleEndian.PutUint32(rec[16:], uint32(in.PageSize))
	binary.LittleEndian.PutUint32(rec[20:], 1)
	rec = append(rec, 4, 0, 4, 'n', 'o', 'p', 'e')
	lg, err := wal.Open(LogDir(path), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lg.Append(rec); err != nil {
		t.Fatal(err)
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
}
