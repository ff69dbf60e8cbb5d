package folio

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// recordLogger is an Options.Logger that keeps what it was told.
type recordLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *recordLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestMetaFallback damages the newest meta page the ways a crash or a bad
// disk can (zeroed, torn, a flipped bit) and checks that Open falls back to the older meta, that the
// database then holds the previous transaction's state, and that the
// fallback is reported in Stats, Info and through Options.Logger.
func TestMetaFallback(t *testing.T) {
	const ps = 4096
	// Each damage gets the file, the newest meta's slot and what that slot
	// held before its last write (the meta of two transactions earlier).
	damage := map[string]func(t *testing.T, f *os.File, slot int64, prev []byte){
		"zeroed": func(t *testing.T, f *os.File, slot int64, prev []byte) {
			writeAtFile(t, f, slot*ps, make([]byte, ps))
		},
		"torn": func(t *testing.T, f *os.File, slot int64, prev []byte) {
			// The write reached only the page's first 64 bytes: the rest
			// (freelist, high water, txid) is still the older meta's.
			writeAtFile(t, f, slot*ps+64, prev[64:])
		},
		"bitflip": func(t *testing.T, f *os.File, slot int64, prev []byte) {
			b := readAtFile(t, f, slot*ps+60, 1)
			writeAtFile(t, f, slot*ps+60, []byte{b[0] ^ 0x10})
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			path := tempPath(t)
			db, err := Open(path, 0o600, &Options{PageSize: ps})
			if err != nil {
				t.Fatal(err)
			}
			models := workModels(1, 6, ps)
			var metas [][]byte // the file's first two pages after each commit
			for i := 1; i <= 6; i++ {
				ops := workTxn(1, i, ps)
				if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
					t.Fatal(err)
				}
				img := mustRead(t, path)
				metas = append(metas, img[:2*ps])
			}
			info, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			if s := db.Stats().MetaFallback; s != "" {
				t.Fatalf("MetaFallback before any damage: %s", s)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			slot := int64(info.MetaSlot)
			fn(t, f, slot, metas[3][slot*ps:(slot+1)*ps])
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			log := &recordLogger{}
			db, err = Open(path, 0o600, &Options{Logger: log})
			if err != nil {
				t.Fatalf("open after damaging the newest meta: %v", err)
			}
			defer closeChecked(t, db)
			fb := db.Stats().MetaFallback
			if fb == "" {
				t.Errorf("Stats().MetaFallback is empty after a fallback")
			}
			if in, err := db.Info(); err != nil || in.MetaFallback != fb || in.TxID != info.TxID-1 {
				t.Errorf("Info() = %+v, %v; want txid %d and MetaFallback %q", in, err, info.TxID-1, fb)
			}
			if log.String() == "" {
				t.Errorf("nothing logged for the fallback")
			} else {
				t.Logf("logged: %s", log)
			}
			if err := db.View(func(tx *Tx) error {
				j, err := readMarker(tx)
				if err != nil {
					return err
				}
				if j != 5 {
					return fmt.Errorf("holds transaction %d after the fallback, want 5", j)
				}
				return diffDB(tx, models[5])
			}); err != nil {
				t.Error(err)
			}
			// The next commit goes to the damaged slot and repairs it.
			ops := workTxn(1, 6, ps)
			if err := db.Update(func(tx *Tx) error { return applyTxn(tx, 6, ops) }); err != nil {
				t.Fatal(err)
			}
			db = reopen(t, db, &Options{})
			if s := db.Stats().MetaFallback; s != "" {
				t.Errorf("MetaFallback after the damaged slot was rewritten: %s", s)
			}
			if err := db.View(func(tx *Tx) error { return diffDB(tx, models[6]) }); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMetaLostRootWrite checks that a newest meta that decodes but whose
// root page lost its write is corruption, reported with the root's page
// id, not a silent fallback to an older state: a two-sync commit made
// the root durable before the meta (invariant 2), so no crash leaves this.
func TestMetaLostRootWrite(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		ops := workTxn(2, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
	}
	info, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	stripCommitRuns(t, path) // a two-sync commit (TestOneSyncTornCommit has one-sync ones)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeAtFile(t, f, int64(info.Root)*ps, make([]byte, ps))
	_ = f.Close()
	log := &recordLogger{}
	db, err = Open(path, 0o600, &Options{Logger: log})
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a file whose newest root page was zeroed")
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Page != info.Root {
		t.Errorf("open: %v; want a *CorruptError for page %d", err, info.Root)
	}
}

// TestMetaBothBad checks that a file whose two meta pages are both
// damaged is refused with an error, not opened empty, and that the error
// quotes meta page 1's own problem (its checksum), found at the page size
// meta page 0 claims, not the last size tried (a 1 MiB file is searched up
// to 64 KiB pages, where no meta page 1 is).
func TestMetaBothBad(t *testing.T) {
	for _, ps := range []int64{1024, 16384} {
		path := tempPath(t)
		db, err := Open(path, 0o600, &Options{PageSize: int(ps)})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 1<<20); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for slot := int64(0); slot < 2; slot++ {
			b := readAtFile(t, f, slot*ps+60, 1)
			writeAtFile(t, f, slot*ps+60, []byte{b[0] ^ 1})
		}
		_ = f.Close()
		db, err = Open(path, 0o600, nil)
		if err == nil {
			_ = db.Close()
			t.Fatal("opened a file with both meta pages damaged")
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("open: %v, want ErrCorrupt", err)
		}
		if want := fmt.Sprintf("meta 1: at offset %d: corrupt page 1: meta checksum", ps); !strings.Contains(err.Error(), want) {
			t.Errorf("page size %d: open: %v; want it to say %q", ps, err, want)
		}
	}
}

func readAtFile(t *testing.T, f *os.File, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAtFile(t *testing.T, f *os.File, off int64, b []byte) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
