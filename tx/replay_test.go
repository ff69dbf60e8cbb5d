package tx_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// TestReplayOpsInBatches: recovery re-runs a log of operations in several
// replay transactions when it passes the limits of one (its log bytes, or
// the pages it has read to change), and the database it opens equals the
// last acknowledged commit. The log is copied while the database is open,
// as a crash leaves it; the limits are lowered so that a small log needs
// many replay transactions, once for each limit.
func TestReplayOpsInBatches(t *testing.T) {
	for _, c := range []struct {
		name       string
		ops, pages int
	}{
		{"log-bytes", 2 << 10, 1 << 30},
		{"pages", 1 << 30, 8 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "live.db")
			opts := &folio.Options{PageSize: 1024, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
			db, err := folio.Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			db.WALImageLimit = -1 // operations always
			model := map[string]string{}
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 90; i++ {
				if i == 30 {
					// The file holds these; the log the rest, which
					// replay reads the file's pages to apply.
					if err := db.Checkpoint(); err != nil {
						t.Fatal(err)
					}
				}
				err := db.Update(func(tx *folio.Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for j := 0; j < 20; j++ {
						k := fmt.Sprintf("k%05d", r.IntN(3000))
						if r.IntN(5) == 0 {
							delete(model, k)
							if err := b.Delete([]byte(k)); err != nil {
								return err
							}
							continue
						}
						v := strings.Repeat(string(rune('a'+r.IntN(26))), 10+r.IntN(60))
						model[k] = v
						if err := b.Put([]byte(k), []byte(v)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			in, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			crashed := filepath.Join(dir, "crashed.db")
			copyFile(t, path, crashed)
			copyDir(t, folio.LogDir(path), folio.LogDir(crashed))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			defer tx.SetReplayLimits(c.ops, c.pages)()
			db, err = folio.Open(crashed, 0o600, &folio.Options{WAL: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			got, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			if got.Replayed != in.LogPending || got.ReplayedTxID != in.TxID {
				t.Fatalf("replayed %d commits to txid %d, want %d to txid %d", got.Replayed, got.ReplayedTxID, in.LogPending, in.TxID)
			}
			if n := tx.ReplayTxs(db); n < 3 {
				t.Fatalf("the replay committed %d transactions: it did not split the log", n)
			}
			if err := db.View(func(tx *folio.Tx) error {
				n := 0
				err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
					n++
					if want, ok := model[string(k)]; !ok || want != string(v) {
						return fmt.Errorf("key %s: %q, model %q (present %v)", k, v, want, ok)
					}
					return nil
				})
				if err == nil && n != len(model) {
					err = fmt.Errorf("%d keys, model %d", n, len(model))
				}
				for cerr := range tx.Check() {
					if err == nil {
						err = cerr
					}
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
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

// copyDir copies the log's segment files (*.wal) of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
		}
	}
}
