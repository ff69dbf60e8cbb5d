package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// anchorOpts: WAL mode, page images for every commit, no checkpoint
// but the ones Open and Close run.
func anchorOpts() *Options {
	return &Options{PageSize: 1024, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour}
}

// anchorPut commits one put into bucket "b", logged as page images.
func anchorPut(t *testing.T, db *DB, k string, v []byte) {
	t.Helper()
	db.WALImageLimit = recordsLimit["images"]
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(k), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// anchorSnapshot copies path and its log directory to dst: what a
// process death leaves (the page cache holds every write).
func anchorSnapshot(t *testing.T, path, dst string) {
	t.Helper()
	copyFile(t, path, dst)
	if _, err := os.Stat(LogDir(path)); err == nil {
		copyDir(t, LogDir(path), LogDir(dst))
	}
}

// anchorRecovered returns a file at txid T recovered from its log by a
// read-write open that then died (before its Close checkpointed), and
// that log: the last page-image record of the log is the file's meta,
// an anchor naming it after. salt sets every value: another history
// with the same txids.
func anchorRecovered(t *testing.T, dir string, salt byte) (file, logDir string) {
	t.Helper()
	live := filepath.Join(dir, fmt.Sprintf("live%d.db", salt))
	db, err := Open(live, 0o600, anchorOpts())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		anchorPut(t, db, fmt.Sprintf("k%d", i), bytes.Repeat([]byte{salt + byte(i)}, 200))
	}
	died := filepath.Join(dir, fmt.Sprintf("died%d.db", salt))
	anchorSnapshot(t, live, died) // the commits are in the log only
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(died, 0o600, anchorOpts()) // recovery: the file at the last record's meta
	if err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, fmt.Sprintf("recovered%d.db", salt))
	anchorSnapshot(t, died, rec) // the recovering process died
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return rec, LogDir(rec)
}

// TestAnchorAfterImageRefused: the image record that lets Open
// take a file whose meta no anchor names (imageState) must be the record
// just before the first one past the file. An anchor after it says the
// records that follow continue another state; the image record before
// that anchor must not outvote it.
//
// Sequence (every step a real Open; two files at the same txid T with
// different trees, A and B, as in TestRecoverImagesThenOpsOtherLog):
//  1. A is recovered from its log and its process dies: the log holds
//     image(T, A) and anchor(T, A).
//  2. B is put beside that log by mistake and opened read-write: every
//     record is stale (the log is kept: one segment), Open appends
//     anchor(T, B), B commits T+1 (an image of B's pages); it dies.
//  3. A is put back beside that log and opened.
//
// Expected: ErrLogMismatch (the last anchor before record T+1 names B).
// Between 570fa87 and its fix, Open applied B's commit T+1 to A, a mix of
// the two trees: an anchor now clears the image record's state, and that
// state counts only before an operation record.
func TestAnchorAfterImageRefused(t *testing.T) {
	dir := t.TempDir()
	fileA, logA := anchorRecovered(t, dir, 0)
	fileB, _ := anchorRecovered(t, dir, 0x40)

	// 2. B beside A's log.
	mixed := filepath.Join(dir, "mixed.db")
	copyFile(t, fileB, mixed)
	copyDir(t, logA, LogDir(mixed))
	db, err := Open(mixed, 0o600, anchorOpts())
	if err != nil {
		t.Fatalf("B beside A's log, every record stale: %v", err)
	}
	anchorPut(t, db, "z", bytes.Repeat([]byte{0xee}, 200))
	died := filepath.Join(dir, "mixed-died.db")
	anchorSnapshot(t, mixed, died)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// 3. A back beside that log.
	back := filepath.Join(dir, "back.db")
	copyFile(t, fileA, back)
	copyDir(t, LogDir(died), LogDir(back))
	db, err = Open(back, 0o600, anchorOpts())
	if errors.Is(err, ErrLogMismatch) {
		return
	}
	if err != nil {
		t.Fatalf("A beside a log whose last anchor names B: %v, want ErrLogMismatch", err)
	}
	var problems []string
	_ = db.View(func(tx *Tx) error {
		for perr := range tx.Check() {
			problems = append(problems, perr.Error())
		}
		if b := tx.Bucket([]byte("b")); b != nil {
			if v := b.Get([]byte("z")); v != nil {
				problems = append(problems, "holds B's key z")
			}
			if v := b.Get([]byte("k0")); len(v) > 0 && v[0] != 0 {
				problems = append(problems, fmt.Sprintf("k0 holds B's value (%#x), A's is 0x00", v[0]))
			}
		}
		return nil
	})
	_ = db.Close()
	t.Errorf("A beside a log whose last anchor before record T+1 names B: Open replayed B's commit into A "+
		"(want ErrLogMismatch); the result: %q", problems)
}

// TestBackupAtLoggedTxidRolledForward: a backup taken (CopyFile)
// at the txid of a logged commit, restored beside the log of the
// database it came from after later commits and the checkpoint of a
// clean Close, must be refused (ErrLogMismatch), not rolled forward. The
// log's first record past the backup follows no anchor: whether the
// anchor before it is still there depends on where package wal's
// segments begin (a warm spare replaces the first one early), so before
// the fix Open sometimes replayed the later commits into the restored
// file. The log holds an anchor after it (the checkpoint's): a log with
// anchors whose head lost the one naming the file's state is refused.
func TestBackupAtLoggedTxidRolledForward(t *testing.T) {
	dir := t.TempDir()
	path, backup := filepath.Join(dir, "a.db"), filepath.Join(dir, "backup.db")
	db, err := Open(path, 0o600, anchorOpts())
	if err != nil {
		t.Fatal(err)
	}
	anchorPut(t, db, "1", []byte("v"))
	anchorPut(t, db, "2", []byte("v"))
	if err := db.View(func(tx *Tx) error { return tx.CopyFile(backup, 0o600) }); err != nil {
		t.Fatal(err)
	}
	anchorPut(t, db, "3", []byte("v"))
	anchorPut(t, db, "4", []byte("v"))
	if err := db.Close(); err != nil { // checkpoints; the log keeps its one segment
		t.Fatal(err)
	}
	copyDir(t, LogDir(path), LogDir(backup))
	db, err = Open(backup, 0o600, anchorOpts())
	if errors.Is(err, ErrLogMismatch) {
		return
	}
	if err != nil {
		t.Fatalf("the backup beside its database's later log: %v, want ErrLogMismatch", err)
	}
	defer db.Close()
	var got []string
	_ = db.View(func(tx *Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error { got = append(got, string(k)); return nil })
	})
	in, _ := db.Info()
	t.Errorf("the backup (keys 1, 2) beside its database's later log opened with keys %q (replayed %d commits, want ErrLogMismatch): the restore was rolled forward",
		got, in.Replayed)
}
