package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/wal"
)

// TestCheckLogRecordKinds: check decodes every record as recovery would
// and counts page-image and operation records; a record whose frame is
// sound but whose contents do not decode is a problem, not "ok".
func TestCheckLogRecordKinds(t *testing.T) {
	path := walDB(t, 0)
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = -1 // log operations from now on
	for i := range 3 {
		if err := db.Update(func(tx *folio.Tx) error {
			return tx.Bucket([]byte("users")).Put([]byte(moreKey(i)), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "check", "--json", path)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s%s", err, out, stderr)
	}
	if code != exitOK || res.Log == nil || !res.Log.OK || res.Log.OpRecords < 1 ||
		res.Log.AnchorRecords < 1 || res.Log.PageRecords+res.Log.OpRecords+res.Log.AnchorRecords != res.Log.Records {
		t.Fatalf("exit %d, want 0, at least one operations record and one anchor among the records:\n%s", code, out)
	}

	// A record the log frames and checksums soundly but that is no
	// transaction: check reports it.
	lg, err := wal.Open(folio.LogDir(path), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte("fTXR\x03\x00\x00\x00 not a transaction at all")
	if _, err := lg.Append(bad); err != nil {
		t.Fatal(err)
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "check", path)
	if code != exitFail || !strings.Contains(out, "bad write-ahead log record") {
		t.Fatalf("exit %d, want 1 and the undecodable record named:\n%s", code, out)
	}
}

// TestCheckLogOfAnotherFile: check, info and checkpoint refuse a database
// whose log follows another copy of it (the file replaced, the log kept),
// naming the cause, and change nothing.
func TestCheckLogOfAnotherFile(t *testing.T) {
	dir := t.TempDir()
	build := func(name, v string) string {
		path := filepath.Join(dir, name)
		db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *folio.Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte(v))
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a, b := build("a.db", "a"), build("b.db", "b")
	db, err := folio.Open(b, 0o600, &folio.Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *folio.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("x"), []byte("y")) }); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(folio.LogDir(a)); err != nil {
		t.Fatal(err)
	}
	copyDir(t, folio.LogDir(b), folio.LogDir(a))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirSum(t, folio.LogDir(a))
	file, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check", "info", "checkpoint"} {
		code, out, stderr := runCLI(t, cmd, a)
		if code != exitFail || !strings.Contains(stderr, "does not follow this file") {
			t.Errorf("%s: exit %d, want 1 and the mismatch named:\n%s%s", cmd, code, out, stderr)
		}
	}
	if dirSum(t, folio.LogDir(a)) != before {
		t.Error("the log changed")
	}
	if after, err := os.ReadFile(a); err != nil || string(after) != string(file) {
		t.Errorf("the file changed (%v)", err)
	}
}
