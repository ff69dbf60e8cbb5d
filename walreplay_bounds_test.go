package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// loggedImages commits n page-image transactions on a fresh database and
// returns what a power cut leaves (the file at its initial checkpoint)
// and the log's records: recs[0] the anchor logged at open, recs[i]
// commit i.
func loggedImages(t *testing.T, ps, n int) ([]byte, []logRecord) {
	t.Helper()
	st := newCrashStorage(t, tx.InitialImage(ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, walOpts(ps))
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = recordsLimit["images"]
	seed := testSeed(t)
	for i := 1; i <= n; i++ {
		ops := workTxn(seed, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
	}
	img := st.image(st.opCount(), imageSynced, ps, nil)
	recs := append([]logRecord(nil), lg.recs...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 {
		t.Fatalf("%d records, want %d", len(recs), n+1)
	}
	return img, recs
}

// withMeta re-encodes page-image record p (version 2) with its meta
// changed by f, and runs appended (each: id, sealed run).
func withMeta(t *testing.T, p []byte, ps int, f func(*page.Meta), extra ...[]byte) []byte {
	t.Helper()
	m := int(binary.LittleEndian.Uint32(p[24:]))
	mp := make([]byte, ps)
	copy(mp, p[recMeta:recMeta+m])
	meta, err := page.DecodeMeta(mp, 0)
	if err != nil {
		t.Fatal(err)
	}
	f(&meta)
	clear(mp)
	page.EncodeMeta(mp, 0, &meta)
	n := len(bytes.TrimRight(mp, "\x00"))
	out := append(bytes.Clone(p[:recMeta]), mp[:n]...)
	binary.LittleEndian.PutUint32(out[24:], uint32(n))
	out = append(out, p[recMeta+m:]...)
	for _, run := range extra {
		out = binary.LittleEndian.AppendUint64(out, uint64(page.PageID(run)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(run)/ps))
		s := len(bytes.TrimRight(run, "\x00"))
		out = binary.LittleEndian.AppendUint32(out, uint32(s))
		out = append(out, run[:s]...)
	}
	binary.LittleEndian.PutUint32(out[20:], binary.LittleEndian.Uint32(p[20:])+uint32(len(extra)))
	return out
}

// TestWALReplayHighBound: a page-image record (checksums valid, as a
// hostile or buggy writer could make it) whose meta raises the file's
// high water mark past the pages it writes fails Open with ErrCorrupt
// naming the record, and replay never grows the file for it. Before,
// replay grew the file to whatever the meta said (2^54 bytes here).
func TestWALReplayHighBound(t *testing.T) {
	const ps = 1024
	img, recs := loggedImages(t, ps, 4)
	far := page.ID(1) << 44
	run := make([]byte, ps)
	page.PutHeader(run, far, 3, page.FlagLarge, 0, 0)
	run[page.HeaderSize] = 'x'
	page.Seal(run)
	for _, c := range []struct {
		name    string
		payload []byte
	}{
		{"high-only", withMeta(t, recs[3].payload, ps, func(m *page.Meta) { m.High = far })},
		{"far-run", withMeta(t, recs[3].payload, ps, func(m *page.Meta) { m.High = far + 1 }, run)},
		{"one-page-more", withMeta(t, recs[3].payload, ps, func(m *page.Meta) { m.High++ })},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := append([]logRecord(nil), recs...)
			out[3].payload = c.payload
			st := newCrashStorage(t, img)
			db, err := tx.OpenWithLog("crash.db", st, newCrashLogWith(st, out), walOpts(ps))
			if err == nil {
				db.Close()
				t.Fatal("open succeeded")
			}
			// recs[0] is the anchor logged at open (LSN 1), recs[i] commit
			// i (LSN i+1, txid i+1).
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "log record 4 (txid 4)") {
				t.Fatalf("open: %v, want ErrCorrupt naming log record 4 (txid 4), the damaged one", err)
			}
			for _, op := range st.ops {
				if op.kind != opWrite || op.off < 2*ps || op.off >= 1<<30 {
					t.Errorf("the refused replay did more than write pages of the records before: %v", op)
				}
			}
			if size := st.Size(); size > 1<<30 {
				t.Errorf("file grew to %d bytes", size)
			}
		})
	}
}

// TestWALBackupBesideLaterLog: a backup restored beside the log of the
// database it was taken from, after later checkpoints, is refused with
// ErrLogMismatch naming both txids and what to do, not ErrCorrupt: the
// log's first commit past the file skips the commits checkpointed after
// the backup. Nothing is written; with the log moved aside the backup
// opens as it was. For page-image and operation records alike.
func TestWALBackupBesideLaterLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
	}{{"images", 1 << 20}, {"operations", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, backup := filepath.Join(dir, "a.db"), filepath.Join(dir, "backup.db")
			db, err := Open(path, 0o600, walOpts(1024))
			if err != nil {
				t.Fatal(err)
			}
			db.WALImageLimit = tc.limit
			put := func(k string) {
				mustPutIn(t, db, "b", []byte(k), []byte("v"))
			}
			put("1")
			put("2")
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			var backupTx int
			err = db.View(func(tx *Tx) error {
				backupTx = tx.ID()
				return tx.CopyFile(backup, 0o600)
			})
			if err != nil {
				t.Fatal(err)
			}
			put("3")
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			put("4")
			put("5")
			copyDir(t, LogDir(path), LogDir(backup)) // synced: the commits returned
			closeChecked(t, db)

			before := mustRead(t, backup)
			for _, opts := range []*Options{walOpts(1024), {ReadOnly: true}} {
				db, err := Open(backup, 0o600, opts)
				if err == nil {
					closeChecked(t, db)
				}
				if !errors.Is(err, ErrLogMismatch) || errors.Is(err, ErrCorrupt) {
					t.Fatalf("open (read-only %v) beside a later log: %v, want ErrLogMismatch", opts.ReadOnly, err)
				}
				for _, s := range []string{backup, fmt.Sprintf("file holds txid %d,", backupTx), "move the log directory aside"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("the error does not say %q: %v", s, err)
					}
				}
			}
			db = openWithLogAside(t, backup, before)
			err = db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if b.Get([]byte("2")) == nil || b.Get([]byte("3")) != nil {
					t.Error("the backup does not hold what it held")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWALReplayBadRoot: a page-image record whose meta passes its own
// checks but whose root does not check against the pages (a wrong root
// checksum or page) fails Open with ErrCorrupt before the meta is
// written. Before, replay wrote that meta durably, and every later open
// failed, even with the log moved aside: the file had lost its state.
func TestWALReplayBadRoot(t *testing.T) {
	const ps = 1024
	img, recs := loggedImages(t, ps, 4)
	last := len(recs) - 1
	for _, c := range []struct {
		name string
		f    func(*page.Meta)
	}{
		{"root-sum", func(m *page.Meta) { m.RootSum ^= 1 }},
		{"root-page", func(m *page.Meta) {
			if m.Root == m.High-1 {
				m.Root--
			} else {
				m.Root = m.High - 1
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := append([]logRecord(nil), recs...)
			out[last].payload = withMeta(t, recs[last].payload, ps, c.f)
			st := newCrashStorage(t, img)
			db, err := tx.OpenWithLog("crash.db", st, newCrashLogWith(st, out), walOpts(ps))
			if err == nil {
				db.Close()
				t.Fatal("open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
			for _, op := range st.ops {
				if op.kind == opWrite && op.off < 2*ps || op.kind == opSync {
					t.Errorf("the refused replay wrote a meta or synced: %v", op)
				}
			}
		})
	}
}

// TestWALGapAfterMetaFallback: when the file lost its newer meta (open fell
// back to the older one) and the log's txids then skip, the file is
// damaged, not replaced: ErrCorrupt naming the fallback, not
// ErrLogMismatch.
func TestWALGapAfterMetaFallback(t *testing.T) {
	const ps = 1024
	dir := t.TempDir()
	path, crashed := filepath.Join(dir, "a.db"), filepath.Join(dir, "crashed.db")
	db, err := Open(path, 0o600, walOpts(ps))
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = -1 // operations: replay reads the file's tree
	put := func(k string) {
		mustPutIn(t, db, "b", []byte(k), []byte("v"))
	}
	put("1")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// A reader keeps the older checkpoint's pages from reuse, so that the
	// file can fall back to it.
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	put("2")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	put("3")
	copyFile(t, path, crashed)
	copyDir(t, LogDir(path), LogDir(crashed))
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	closeChecked(t, db)

	data := mustRead(t, crashed)
	m0, err0 := page.DecodeMeta(data[:ps], 0)
	m1, err1 := page.DecodeMeta(data[ps:2*ps], 1)
	if err0 != nil || err1 != nil {
		t.Fatalf("meta pages: %v, %v", err0, err1)
	}
	newer := 0
	if m1.TxID > m0.TxID {
		newer = 1
	}
	data[newer*ps+page.HeaderSize+20] ^= 0xff // its root checksum: the meta no longer decodes
	if err := os.WriteFile(crashed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(crashed, 0o600, walOpts(ps))
	if err == nil {
		closeChecked(t, db)
		t.Fatal("open succeeded")
	}
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrLogMismatch) || !strings.Contains(err.Error(), "meta page") {
		t.Fatalf("open: %v, want ErrCorrupt naming the meta page lost", err)
	}
}
