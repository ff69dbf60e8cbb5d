package folio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// checkpointedBesideLog returns a database file that holds every commit of
// a WAL-mode session (recovered and checkpointed) and that session's log
// as the checkpoint found it (a crash before the truncation), and the
// models of its transactions (fuzzLogRecords' workload).
func checkpointedBesideLog(t *testing.T) ([]byte, []logRecord, []*mbucket) {
	t.Helper()
	const ps = 1024
	recs := fuzzLogRecords(t, ps, recordsLimit["images"], false)
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.OpenWithLog("a.db", st, newCrashLogWith(st, recs), walOpts(ps))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return st.image(st.opCount(), imageSynced, ps, nil), recs, workModels(7, fuzzLogTxns, ps)
}

// writeLogSegments writes recs as a log in dir, synced, over segments of
// 4 KiB (the smallest), and returns the segment files.
func writeLogSegments(t *testing.T, dir string, recs []logRecord) []string {
	t.Helper()
	lg, err := wal.Open(dir, wal.Options{SegmentSize: 4 << 10, MaxFreeSegments: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		lsn, err := lg.Append(r.payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := lg.SyncTo(lsn); err != nil {
			t.Fatal(err)
		}
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	return walSegments(t, dir)
}

// TestWALLeaveCrashMidRemoval: an Open without WAL mode removes the log
// after replaying it. Removed in place, a crash could leave a log missing
// a middle segment, which every later Open refused as corrupt, though the
// file held every commit (found by a review: 2026-12-06). The log is now
// renamed aside first (durably): what a crash leaves is the whole log, or
// a tombstone that no Open reads and a read-write Open removes.
func TestWALLeaveCrashMidRemoval(t *testing.T) {
	img, recs, models := checkpointedBesideLog(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	tomb := logTombstone(LogDir(path))
	reset := func(logAt string, drop ...int) {
		t.Helper()
		for _, d := range []string{LogDir(path), tomb} {
			if err := os.RemoveAll(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, img, 0o600); err != nil {
			t.Fatal(err)
		}
		segs := writeLogSegments(t, logAt, recs)
		if len(segs) < 3 {
			t.Fatalf("the log has %d segments; the test needs a middle one", len(segs))
		}
		for _, i := range drop {
			if err := os.Remove(segs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	exists := func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	}

	// An Open leaving WAL mode that crashes once the log is renamed aside
	// and its removal has begun: the tombstone lacks a middle segment.
	// Every kind of Open works; a read-write one removes it.
	for _, o := range []Options{{ReadOnly: true}, {WAL: true}, {}} {
		where := fmt.Sprintf("a tombstone with a gap, Open(WAL %v, ReadOnly %v)", o.WAL, o.ReadOnly)
		reset(LogDir(path))
		var renamed string
		logRenamedHook = func(tomb string) bool {
			renamed = tomb
			return true
		}
		db, err := Open(path, 0o600, nil)
		logRenamedHook = nil
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if renamed != tomb || exists(LogDir(path)) {
			t.Fatalf("leaving WAL mode did not rename the log aside first (renamed to %q; log directory there: %v)", renamed, exists(LogDir(path)))
		}
		// The crash's tombstone: the log as it was, a middle segment
		// gone.
		reset(tomb, 1)
		db, err = Open(path, 0o600, &o)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		checkHolds(t, where, db, models, fuzzLogTxns, fuzzLogTxns)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if exists(tomb) == !o.ReadOnly {
			t.Errorf("%s: tombstone there: %v", where, exists(tomb))
		}
	}

	// A crash before the rename leaves the whole log: the next Open
	// without WAL mode replays nothing new and removes it, by way of
	// the tombstone, leaving neither.
	reset(LogDir(path))
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkHolds(t, "left WAL mode", db, models, fuzzLogTxns, fuzzLogTxns)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(LogDir(path)) || exists(tomb) {
		t.Fatalf("after leaving WAL mode: log directory there %v, tombstone there %v", exists(LogDir(path)), exists(tomb))
	}

	// What the removal in place left before: a log missing a middle
	// segment is still refused (package wal cannot tell it from lost
	// records), so no removal may leave one.
	reset(LogDir(path), 1)
	db, err = Open(path, 0o600, &Options{ReadOnly: true})
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrLogCorrupt) {
		if err == nil {
			_ = db.Close()
		}
		t.Fatalf("a log missing a middle segment: %v, want ErrLogCorrupt and ErrCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "write-ahead log is damaged") || strings.Contains(msg, "database file is corrupt") {
		t.Errorf("%q: the message should blame the log, not the file", msg)
	}
}

// TestRemoveLogDir: the removal renames the directory aside and leaves
// neither it nor the tombstone; an old tombstone goes first, and a missing
// directory is no error.
func TestRemoveLogDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a.db.wal")
	tomb := logTombstone(dir)
	for _, d := range []string{dir, tomb} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "0000000000000001.wal"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeLogDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, tomb} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it gone", d, err)
		}
	}
	if err := removeLogDir(dir); err != nil {
		t.Errorf("no directory: %v", err)
	}
}
