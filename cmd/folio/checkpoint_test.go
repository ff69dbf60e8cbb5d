package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// walDB creates a database in WAL mode with 1 KiB pages, holding the
// sample of sampleDB in one commit and then `more` commits of one key
// each (users/more000...), and closes it cleanly (a checkpoint): the file
// holds every commit, and the log's active segment still holds the
// records.
func walDB(t *testing.T, more int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wal.db")
	db := openWAL(t, path, more)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// crashedWALDB makes what a WAL-mode program leaves when it dies: a
// database whose log holds commits the file does not. It commits the
// sample and `more` single-key commits in WAL mode, then copies the data
// file and its log directory to a new path while the database is still
// open (the file's meta is that of the last checkpoint, the pages of
// later commits are in it unsynced, and the records are in the log).
func crashedWALDB(t *testing.T, more int) string {
	t.Helper()
	orig := filepath.Join(t.TempDir(), "live.db")
	db := openWAL(t, orig, more)
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, orig, crashed)
	copyDir(t, folio.LogDir(orig), folio.LogDir(crashed))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return crashed
}

func openWAL(t *testing.T, path string, more int) *folio.DB {
	t.Helper()
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fillSample); err != nil {
		t.Fatal(err)
	}
	for i := range more {
		if err := db.Update(func(tx *folio.Tx) error {
			return tx.Bucket([]byte("users")).Put([]byte(moreKey(i)), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func moreKey(i int) string { return fmt.Sprintf("more%03d", i) }

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files of src into a new directory dst. A
// file that vanishes meanwhile (the log renames spare segments in the
// background) is skipped.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// dirSum hashes the names and contents of the files in dir.
func dirSum(t *testing.T, dir string) [32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(h, e.Name()+"\x00")
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return [32]byte(h.Sum(nil))
}

// pendingCommands are the commands that only read: on a database whose
// log holds commits not in the file, each must refuse with a message
// naming folio checkpoint, and change nothing.
var pendingCommands = append(slices.Clone(readOnlyCommands),
	[]string{"dump", "DB"},
	[]string{"backup", "DB", "OUT"},
	[]string{"compact", "DB", "OUT"},
)

func TestReadOnlyCommandsRefuseLogPending(t *testing.T) {
	path := crashedWALDB(t, 3)
	fileBefore, logBefore := fileSum(t, path), dirSum(t, folio.LogDir(path))
	for _, args := range pendingCommands {
		outDir := t.TempDir()
		full := withDB(args, path)
		for i, a := range full {
			full[i] = strings.ReplaceAll(a, "OUT", filepath.Join(outDir, "out.db"))
		}
		code, stdout, stderr := runCLI(t, full...)
		want := `run "folio checkpoint ` + path + `"`
		if code != exitFail || !strings.Contains(stderr, want) || !strings.Contains(stderr, "write-ahead log") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and a message saying %s", args, code, stdout, stderr, want)
		}
		if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
			t.Errorf("%v left %d files in the output directory", args, len(entries))
		}
		if fileSum(t, path) != fileBefore || dirSum(t, folio.LogDir(path)) != logBefore {
			t.Fatalf("%v changed the database or its log", args)
		}
	}
}

func TestCheckpoint(t *testing.T) {
	path := crashedWALDB(t, 3)
	code, out, stderr := runCLI(t, "checkpoint", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The file was at txid 1 (the new database: a WAL-mode open writes
	// no meta until a checkpoint); the sample and 3 puts are txids 2-5,
	// and the checkpoint, which writes the free list, is txid 6. The
	// range is what was replayed: "txid 1 to 5" read as if txid 1 was.
	for _, re := range []string{
		`replayed 4 commits from the log \(txids 2 to 5; the file was at txid 1\) and checkpointed them into the file; now at txid 6, checkpointed at txid 6`,
		`(?m)^log .*crashed\.db\.wal: [\d.]+ [KMG]?i?B before, [\d.]+ [KMG]?i?B after$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
	if !isDir(folio.LogDir(path)) {
		t.Error("checkpoint removed the log directory: the database should stay in WAL mode")
	}
	// Read-only commands work again and see every commit.
	code, out, stderr = runCLI(t, "get", path, "users", "more002")
	if code != exitOK || out != "v" {
		t.Errorf("get after checkpoint: exit %d, %q %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "info", path)
	if code != exitOK || !strings.Contains(out, "last txid:       6") ||
		!regexp.MustCompile(`wal: +[\d.]+ [KMG]?i?B, last checkpoint at txid 6, 0 commits since`).MatchString(out) {
		t.Errorf("info after checkpoint: exit %d:\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "check", path)
	if code != exitOK || !strings.Contains(out, "ok: ") {
		t.Errorf("check after checkpoint: exit %d:\n%s%s", code, out, stderr)
	}

	// Again: nothing left to replay.
	code, out, stderr = runCLI(t, "checkpoint", path)
	if code != exitOK || !strings.Contains(out, "nothing to replay: the file held every commit; now at txid 6") {
		t.Errorf("second checkpoint: exit %d:\n%s%s", code, out, stderr)
	}
}

// TestCheckpointOneCommit: one commit replayed is named alone, "txid 2",
// not as a range from the file's txid.
func TestCheckpointOneCommit(t *testing.T) {
	path := crashedWALDB(t, 0)
	code, out, stderr := runCLI(t, "checkpoint", path)
	if code != exitOK || !strings.Contains(out, "replayed 1 commit from the log (txid 2; the file was at txid 1) and checkpointed it into the file") {
		t.Errorf("exit %d:\n%s%s", code, out, stderr)
	}
}

func TestCheckpointNoLog(t *testing.T) {
	path := sampleDB(t)
	before := fileSum(t, path)
	code, out, stderr := runCLI(t, "checkpoint", path)
	if code != exitOK || !strings.Contains(out, "no write-ahead log") || !strings.Contains(out, "nothing to checkpoint") {
		t.Errorf("exit %d:\n%s%s", code, out, stderr)
	}
	if fileSum(t, path) != before {
		t.Error("checkpoint changed a database without a log")
	}
	if isDir(folio.LogDir(path)) {
		t.Error("checkpoint made a log for a database without one")
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	code, _, stderr := runCLI(t, "checkpoint", missing)
	if code != exitFail || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("checkpoint created a database")
	}
	if code, _, _ := runCLI(t, "checkpoint"); code != exitUsage {
		t.Errorf("no argument: exit %d, want %d", code, exitUsage)
	}

	// A program holding the database open.
	path := walDB(t, 0)
	db, err := folio.Open(path, 0o600, &folio.Options{WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	code, _, stderr = runCLI(t, "--timeout", "100ms", "checkpoint", path)
	if code != exitFail || !strings.Contains(stderr, "locked by another process") {
		t.Errorf("locked: exit %d, %q", code, stderr)
	}
}

// TestCopiesOfWALDB: backup and compact of a database in WAL mode write
// plain databases (no log of their own, none needed) holding every
// commit, and leave the source's file and log as they were; a log
// directory where the copy's would be is refused, not adopted.
func TestCopiesOfWALDB(t *testing.T) {
	path := walDB(t, 5)
	want := readModel(t, path)
	fileBefore, logBefore := fileSum(t, path), dirSum(t, folio.LogDir(path))
	for _, args := range [][]string{
		{"backup", path, "OUT"},
		{"backup", "--zstd", path, "OUT"},
		{"compact", path, "OUT"},
	} {
		t.Run(strings.Join(args[:len(args)-2], " "), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.db")
			full := slices.Clone(args)
			full[len(full)-1] = out
			code, stdout, stderr := runCLI(t, full...)
			if code != exitOK {
				t.Fatalf("exit %d: %s%s", code, stdout, stderr)
			}
			if isDir(folio.LogDir(out)) {
				t.Errorf("%s has a log", out)
			}
			copyPath := out
			if slices.Contains(args, "--zstd") {
				copyPath = decompressFile(t, out)
			}
			db, err := folio.Open(copyPath, 0o600, &folio.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			in, err := db.Info()
			db.Close()
			if err != nil || in.WAL {
				t.Errorf("the copy: WAL %v, %v; want a plain database", in.WAL, err)
			}
			sameModel(t, readModel(t, copyPath), want, true)
			if fileSum(t, path) != fileBefore || dirSum(t, folio.LogDir(path)) != logBefore {
				t.Fatalf("%v changed the source's file or log", args[0])
			}

			// Again, onto a path with a log directory beside it.
			out2 := filepath.Join(t.TempDir(), "out2.db")
			if err := os.Mkdir(folio.LogDir(out2), 0o755); err != nil {
				t.Fatal(err)
			}
			full[len(full)-1] = out2
			code, stdout, stderr = runCLI(t, full...)
			if code != exitFail || !strings.Contains(stderr, folio.LogDir(out2)+" exists") {
				t.Errorf("beside a log: exit %d, %s%s; want 1 and a message naming %s", code, stdout, stderr, folio.LogDir(out2))
			}
			if _, err := os.Stat(out2); !os.IsNotExist(err) {
				t.Errorf("a refused %s created %s", args[0], out2)
			}
		})
	}
}

// TestReadOnlyCommandsLeaveWALUnchanged: on a database in WAL mode closed
// cleanly, the read-only commands work and change neither the file nor
// its log.
func TestReadOnlyCommandsLeaveWALUnchanged(t *testing.T) {
	path := walDB(t, 3)
	fileBefore, logBefore := fileSum(t, path), dirSum(t, folio.LogDir(path))
	for _, args := range append(slices.Clone(readOnlyCommands), []string{"dump", "DB"}) {
		code, _, stderr := runCLI(t, withDB(args, path)...)
		if code != exitOK {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
		if fileSum(t, path) != fileBefore || dirSum(t, folio.LogDir(path)) != logBefore {
			t.Fatalf("%v changed the database or its log", args)
		}
	}
}
