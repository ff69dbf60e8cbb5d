package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

func TestInfo(t *testing.T) {
	empty := makeDB(t, nil)
	sample := sampleDB(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"empty", []string{"info", empty}, []string{
			"format version:  " + fmt.Sprint(page.Version), "page size:       1024", "last txid:       1",
			"current meta:    page 1", "root page:       none", "meta fallback:   no"}},
		{"sample", []string{"info", sample}, []string{"last txid:       2", "current meta:    page 0", "pages free:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestInfoJSON(t *testing.T) {
	path := sampleDB(t)
	code, out, stderr := runCLI(t, "info", "--json", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var in infoJSON
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if in.FormatVersion != page.Version || in.PageSize != 1024 || in.FileSize != fi.Size() || in.TxID != 2 || in.MetaSlot != 0 {
		t.Errorf("info %+v", in)
	}
	if in.PagesInUse+int64(in.FreePages+in.PendingPages) != int64(in.HighPage) || in.PagesInUse < 3 {
		t.Errorf("page counts do not add up: %+v", in)
	}
	if in.RootPage < 2 || in.RootPage >= in.HighPage {
		t.Errorf("root page %d outside [2, %d)", in.RootPage, in.HighPage)
	}
}

// TestInfoVersion1File: info shows the format version the file has, 1
// for a file a folio before version 2 wrote (and leaves it so: it opens
// read-only), 2 once a commit upgraded it.
func TestInfoVersion1File(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	})
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for slot := range 2 {
		p := img[slot*1024 : (slot+1)*1024]
		m, err := page.DecodeMeta(p, page.ID(slot))
		if err != nil || m.FreeDelta != "" {
			t.Fatalf("meta page %d: %v (delta %q)", slot, err, m.FreeDelta)
		}
		page.EncodeMetaCommit(p, page.ID(slot), &m, page.MetaCommitRuns(p, nil))
		binary.LittleEndian.PutUint32(p[page.HeaderSize+4:], 1)
		page.Seal(p)
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	formatVersion := func() uint32 {
		t.Helper()
		code, out, stderr := runCLI(t, "info", "--json", path)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var in infoJSON
		if err := json.Unmarshal([]byte(out), &in); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if _, out, _ := runCLI(t, "info", path); !strings.Contains(out, fmt.Sprintf("format version:  %d\n", in.FormatVersion)) {
			t.Errorf("info and info --json disagree on the version (%d):\n%s", in.FormatVersion, out)
		}
		return in.FormatVersion
	}
	if v := formatVersion(); v != 1 {
		t.Errorf("a version 1 file: format_version %d, want 1", v)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, img) {
		t.Errorf("info changed the file (%v)", err)
	}
	db, err := folio.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *folio.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if v := formatVersion(); v != page.Version {
		t.Errorf("after a commit: format_version %d, want %d", v, page.Version)
	}
}

// TestInfoMetaFallback zeroes the newest meta page: info must open the
// older one and say so.
func TestInfoMetaFallback(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	})
	// txid 2 is current, in slot 0; slot 1 holds txid 1 (empty).
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 1024), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, out, stderr := runCLI(t, "info", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "current meta:    page 1") || !strings.Contains(out, "meta fallback:   meta page") || !strings.Contains(out, "unusable") {
		t.Errorf("no fallback shown:\n%s", out)
	}
}

// TestOpenErrorNamesFile: an open error names the file even when the
// library's message happens to contain the path inside a word ("data" in
// "not a folio database"), and does not name it twice.
func TestOpenErrorNamesFile(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("data", []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "info", "data")
	if code != exitFail || !strings.HasPrefix(stderr, "folio: data: ") || !strings.Contains(stderr, "not a folio database") {
		t.Fatalf("exit %d: %q", code, stderr)
	}
	if strings.Count(stderr, "data:") != 1 {
		t.Errorf("the path named more than once: %q", stderr)
	}
}

func TestNamesPath(t *testing.T) {
	for _, tc := range []struct {
		msg, path string
		want      bool
	}{
		{"folio/page: not a folio database", "data", false},
		{"folio: open data: permission denied", "data", true},
		{"data: no such file", "data", true},
		{"folio: timeout: data is held by another process", "data", true},
		{"folio: open mydata: bad", "data", false},
		{"folio: open data.db: bad", "data", false},
		{"folio: open data.db: bad", "data.db", true},
	} {
		if got := namesPath(tc.msg, tc.path); got != tc.want {
			t.Errorf("namesPath(%q, %q) = %v", tc.msg, tc.path, got)
		}
	}
}

// TestJSONLogFieldsInWALMode: info --json and stats --json of a database
// in WAL mode give every log field, 0 included, as the text gives "0
// commits since"; of one without a log, none. log_pending was
// omitempty, and a read-only open refuses a log with commits pending, so
// it never appeared: a script reading .log_pending got null.
func TestJSONLogFieldsInWALMode(t *testing.T) {
	fields := []string{"log_bytes", "checkpoint_txid", "log_pending"}
	for _, tc := range []struct {
		path string
		wal  bool
	}{{walDB(t, 3), true}, {sampleDB(t), false}} {
		for _, cmd := range []string{"info", "stats"} {
			code, out, stderr := runCLI(t, cmd, "--json", tc.path)
			if code != exitOK {
				t.Fatalf("%s: exit %d: %s", cmd, code, stderr)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%s: %v in %s", cmd, err, out)
			}
			if cmd == "stats" {
				m, _ = m["file"].(map[string]any)
			}
			for _, f := range fields {
				if _, ok := m[f]; ok != tc.wal {
					t.Errorf("%s --json, WAL mode %v: %q present %v:\n%s", cmd, tc.wal, f, ok, out)
				}
			}
			if tc.wal && m["log_pending"] != 0.0 {
				t.Errorf("%s --json: log_pending %v, want 0", cmd, m["log_pending"])
			}
		}
	}
}
