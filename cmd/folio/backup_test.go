package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/klauspost/compress/zstd"
)

func TestBackup(t *testing.T) {
	path := sampleDB(t)
	want := readModel(t, path)
	before := fileSum(t, path)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "text.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"plain", []string{"backup", path, "OUT"}, exitOK, "verified: check ok (303 keys in 7 buckets)"},
		{"zstd", []string{"backup", "--zstd", path, "OUT"}, exitOK, "verified: decompressed, check ok (303 keys in 7 buckets)"},
		{"missing", []string{"backup", filepath.Join(dir, "nope.db"), "OUT"}, exitFail, "no such file"},
		{"not a database", []string{"backup", notDB, "OUT"}, exitFail, "not a folio database"},
		{"onto itself", []string{"backup", path, path}, exitUsage, "is the database itself"},
		{"output dir missing", []string{"backup", path, filepath.Join(dir, "no", "x.db")}, exitFail, "no such file or directory"},
		{"one argument", []string{"backup", path}, exitUsage, "accepts 2 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "backup.db")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "OUT", out)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, output %q%q; want %d and %q", code, stdout, stderr, tc.code, tc.want)
			}
			if code != exitOK {
				if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
					t.Errorf("a failed backup left %d files", len(entries))
				}
				return
			}
			if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
				t.Errorf("%d files in the output directory, want the backup only", len(entries))
			}
			restored := out
			if strings.Contains(tc.name, "zstd") {
				restored = decompressFile(t, out)
			}
			sameModel(t, readModel(t, restored), want, true)
		})
	}
	if fileSum(t, path) != before {
		t.Error("backup changed the database file")
	}
}

func decompressFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// NB: a decoder made for DecodeAll gets no reader: one in stream
	// mode can hold every block decoder and leave DecodeAll waiting.
	zr, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	raw, err := zr.DecodeAll(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(out, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupInUse: a backup taken while another handle reads and has
// just written gets the committed state; a writer in another process
// (an exclusive lock) makes backup fail within --timeout, saying so.
func TestBackupInUse(t *testing.T) {
	path := sampleDB(t)
	r, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.db")
	err = r.View(func(tx *folio.Tx) error {
		if code, _, stderr := runCLI(t, "backup", path, out); code != exitOK {
			t.Errorf("backup beside a reader: %s", stderr)
		}
		return nil
	})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	sameModel(t, readModel(t, out), readModel(t, path), true)

	w, err := folio.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out2 := filepath.Join(t.TempDir(), "b2.db")
	code, _, stderr := runCLI(t, "--timeout", "100ms", "backup", path, out2)
	if code != exitFail || !strings.Contains(stderr, "locked by another process") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Error("a failed backup created its output")
	}
}

// TestBackupOutputMode: a new OUT gets the database's mode less the
// umask, as cp gives a copy (a backup is as private as its database; it
// was 0600 whatever the database's), and an OUT it replaces keeps its own.
func TestBackupOutputMode(t *testing.T) {
	withUmask(t, 0o027)
	path := sampleDB(t)
	if err := os.Chmod(path, 0o664); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fresh, old := filepath.Join(dir, "new.db"), filepath.Join(dir, "old.db")
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o604); err != nil {
		t.Fatal(err)
	}
	for out, want := range map[string]os.FileMode{fresh: 0o640, old: 0o604} {
		if code, _, stderr := runCLI(t, "backup", path, out); code != exitOK {
			t.Fatalf("backup to %s: exit %d: %s", filepath.Base(out), code, stderr)
		}
		if got := modeOf(t, out); got != want {
			t.Errorf("backup to %s: mode %v, want %v", filepath.Base(out), got, want)
		}
	}
}

// TestCopyOutputMode: compact and migrate give DST the source's mode less
// the umask, as backup and cp do (it was 0600 whatever the source's).
func TestCopyOutputMode(t *testing.T) {
	withUmask(t, 0o027)
	for _, tc := range []struct {
		name string
		src  string
		args func(src, dst string) []string
	}{
		{"compact", sampleDB(t), func(src, dst string) []string { return []string{"compact", src, dst} }},
		{"migrate", boltDB(t, dbModel{"a": {KV: map[string]string{"k": "v"}}}), func(src, dst string) []string { return []string{"migrate", "--from", "bbolt", src, dst} }},
	} {
		if err := os.Chmod(tc.src, 0o664); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "dst.db")
		if code, _, stderr := runCLI(t, tc.args(tc.src, dst)...); code != exitOK {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
		}
		if got := modeOf(t, dst); got != 0o640 {
			t.Errorf("%s: mode %v, want %v", tc.name, got, os.FileMode(0o640))
		}
	}
}

// TestBackupRefusedDBNamedOnce: a DB the library will not open is named
// once in backup's error, as dump and compact name it: the line read
// "backup X: open X: folio/page: not a folio database: ...".
func TestBackupRefusedDBNamedOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zero.db")
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "backup", path, filepath.Join(dir, "out.db"))
	if code != exitFail || !strings.Contains(stderr, "not a folio database") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, path); n != 1 {
		t.Errorf("stderr names %s %d times: %s", path, n, stderr)
	}
	_, _, dump := runCLI(t, "dump", path)
	if stderr != dump {
		t.Errorf("backup says %q, dump %q", stderr, dump)
	}
}
