package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// The tool against hostile and odd inputs, as a demanding user meets
// them: a file held by another process, a directory, a damaged page, a
// meta page fallen back from, a missing or read-only directory for the
// output, a dump cut short, the database given as its own input. Each
// failure is one line naming the file (and the page or bucket), saying
// each thing once, never a temporary file's name; a read-only command
// leaves the file as it was.

// fallbackDB is a database whose newest meta page (slot 0, txid 2, which
// made bucket b) is zeroed: it opens at txid 1, empty, with
// Info().MetaFallback saying why.
func fallbackDB(t *testing.T) string {
	t.Helper()
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 1024), 0); err != nil {
		t.Fatal(err)
	}
	return path
}

// damagedDB is sampleDB with a byte flipped in the leaf of bucket users
// that holds key user000: a damaged page that check reports (the commit
// that wrote it is not the one-sync kind whose damage reads as a torn
// commit).
func damagedDB(t *testing.T) (string, page.ID) {
	t.Helper()
	path := sampleDB(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	leaf := page.ID(0)
	for id := 2; (id+1)*1024 <= len(b) && leaf == 0; id++ {
		p := b[id*1024 : (id+1)*1024]
		if page.PageFlags(p) == page.FlagLeaf && page.PageID(p) == page.ID(id) && bytes.Contains(p, []byte("user000")) {
			leaf = page.ID(id)
		}
	}
	if leaf == 0 {
		t.Fatal("no leaf holds user000")
	}
	flipByte(t, path, int64(leaf)*1024+600)
	if code, out, _ := runCLI(t, "check", path); code != exitFail || !strings.Contains(out, fmt.Sprintf("page %d: ", leaf)) {
		t.Fatalf("check of the damaged file: exit %d:\n%s", code, out)
	}
	return path, leaf
}

// oneLine fails unless stderr is one "folio: " line saying "folio:" once.
func oneLine(t *testing.T, args []string, stderr string) string {
	t.Helper()
	line, ok := strings.CutSuffix(stderr, "\n")
	if !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "folio: ") || strings.Contains(line[len("folio: "):], "folio: ") {
		t.Errorf("%v: stderr %q, want one line saying \"folio: \" once", args, stderr)
	}
	return line
}

// noTempNames fails if msg names a temporary file of the tool's or the
// library's, which the user never gave and which is gone.
func noTempNames(t *testing.T, args []string, msg string) {
	t.Helper()
	for _, tmp := range []string{".tmp-", ".compact-", ".migrate-", ".new-", ".folio-verify-", "copy into"} {
		if strings.Contains(msg, tmp) {
			t.Errorf("%v: %q names a temporary file (%q)", args, msg, tmp)
		}
	}
}

// TestHostileLockedSaysItOnce: a database held by another process's
// writer fails every command with the one sentence saying so, the path
// and the wait once each (the library's own "timeout waiting for the
// database file lock: X is held by another process (waited T)" said both
// again), also where a command names the file first ("backup X: X is
// locked").
func TestHostileLockedSaysItOnce(t *testing.T) {
	path := sampleDB(t)
	dump := filepath.Join(t.TempDir(), "d.txt")
	if code, _, stderr := runCLI(t, "dump", path, "-o", dump); code != exitOK {
		t.Fatalf("dump: %s", stderr)
	}
	db, err := folio.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := filepath.Join(t.TempDir(), "out.db")
	locked := path + " is locked by another process (waited 100ms; try --timeout)"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", path}, locked},
		{[]string{"check", path}, locked},
		{[]string{"pages", path}, locked},
		{[]string{"dump", path}, locked},
		{[]string{"compact", path, out}, locked},
		{[]string{"backup", path, out}, locked},
		{[]string{"put", path, "users", "k", "v"}, locked},
		{[]string{"checkpoint", path}, locked},
		{[]string{"load", path, "-i", dump}, locked + "; nothing was loaded"},
	} {
		args := append([]string{"--timeout", "100ms"}, tc.args...)
		code, _, stderr := runCLI(t, args...)
		if line := oneLine(t, args, stderr); code != exitFail || line != "folio: "+tc.want {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, line, exitFail, "folio: "+tc.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s made: %v", out, err)
	}
	// Scripts still tell a lock from other failures.
	if err := lockTimeout(path, time.Second, fmt.Errorf("x: %w", folio.ErrTimeout)); !errors.Is(err, folio.ErrTimeout) {
		t.Errorf("lockTimeout(...) = %v, not ErrTimeout", err)
	}
}

// TestHostileErrorMessageNamesOnce: errorMessage says once a file that
// a wrapper names and the error it wraps begins with, followed by a
// space ("backup X: X is a directory").
func TestHostileErrorMessageNamesOnce(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("backup %s: %w", "a.db", lockedError{"a.db", time.Second}), "a.db is locked by another process (waited 1s; try --timeout)"},
		{fmt.Errorf("load %s: %w; nothing was loaded", "a.db", dbFileError{lockTimeout("a.db", time.Second, folio.ErrTimeout)}),
			"a.db is locked by another process (waited 1s; try --timeout); nothing was loaded"},
		{fmt.Errorf("backup %s: %w", "a.db", fmt.Errorf("%s is a directory, not a database file", "a.db")), "a.db is a directory, not a database file"},
		// A name inside a longer word is not the file's.
		{fmt.Errorf("backup %s: %w", "a.db", errors.New("xa.db is here")), "backup a.db: xa.db is here"},
		{fmt.Errorf("backup %s: %w", "a.db", errors.New("a.dbx is here")), "backup a.db: a.dbx is here"},
	} {
		if got := errorMessage(tc.err); got != tc.want {
			t.Errorf("errorMessage(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestHostileDirectory: a directory given as the database fails with one
// line saying so and naming it once, for migrate too (bbolt called it
// "invalid database").
func TestHostileDirectory(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "dir.db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(dump, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.db")
	isDir := db + " is a directory, not a database file"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", db}, isDir},
		{[]string{"backup", db, out}, isDir},
		{[]string{"backup", "--zstd", db, out}, isDir},
		{[]string{"load", db, "-i", dump}, isDir + "; nothing was loaded"},
		{[]string{"migrate", "--from", "bbolt", db, out}, isDir},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if line := oneLine(t, tc.args, stderr); code != exitFail || line != "folio: "+tc.want {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, line, exitFail, "folio: "+tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("the directory holds %d entries, want 2 (nothing made)", len(ents))
	}
}

// TestHostilePagesRefusedWarning: pages and page on a file the library
// refuses warn on one line that names the file once and says "folio: "
// once, not the library's "folio: open X: folio: ..." in parentheses.
func TestHostilePagesRefusedWarning(t *testing.T) {
	path := sampleDB(t)
	root, _ := rootOf(t, path)
	flipByte(t, path, int64(root)*1024+40)
	for _, args := range [][]string{{"pages", path}, {"page", path, "0"}} {
		code, _, stderr := runCLI(t, args...)
		want := exitOK
		if args[0] == "pages" {
			// The listing shows the damage, and the status too: a line
			// saying how many problems it holds follows the warning.
			want = exitFail
			warning, rest, _ := strings.Cut(stderr, "\n")
			if !problemsFound.MatchString(rest) {
				t.Errorf("%v: stderr %q; want the warning, then the problems counted", args, stderr)
			}
			stderr = warning + "\n"
		}
		line := oneLine(t, args, stderr)
		if code != want || !strings.HasPrefix(line, "folio: warning: the library refuses "+path+" (") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if n := strings.Count(line, path); n != 1 {
			t.Errorf("%v: %q names the file %d times", args, line, n)
		}
		if !strings.Contains(line, fmt.Sprintf("corrupt page %d", root)) {
			t.Errorf("%v: %q does not name page %d", args, line, root)
		}
	}
}

// runAsNobody runs the command line as a user who owns no file here
// when the test runs as root (to whom modes deny nothing, so what a mode
// denies could not fail), in a process of its own; otherwise in process,
// as the test's user. dirs are made writable by everyone first.
func runAsNobody(t *testing.T, dirs []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if os.Getuid() != 0 {
		return runCLI(t, args...)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is root's alone: a copy the user
	// can run, in a directory it can enter.
	bin := filepath.Join(t.TempDir(), "folio")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(dirs, filepath.Dir(bin)) {
		for ; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
	const nobody = 65534
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case errors.Is(err, syscall.EPERM):
		t.Skipf("cannot run as uid %d here: %v", nobody, err)
	}
	t.Fatal(err)
	return 0, "", ""
}

// TestHostileReadOnlySource: compact and migrate copy a read-only (0444)
// source into a copy of the same mode, run by a user to whom the mode
// denies writing (the copy used to be made with the source's mode and
// then opened for writing: "permission denied" for anyone but root).
func TestHostileReadOnlySource(t *testing.T) {
	src := sampleDB(t)
	bsrc := boltDB(t, dbModel{"a": {KV: map[string]string{"k": "v"}}})
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		dst  string
	}{
		{"compact", []string{"compact", src, filepath.Join(out, "c.db")}, filepath.Join(out, "c.db")},
		{"migrate", []string{"migrate", "--from", "bbolt", bsrc, filepath.Join(out, "m.db")}, filepath.Join(out, "m.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.args[len(tc.args)-2]
			if err := os.Chmod(s, 0o444); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runAsNobody(t, []string{filepath.Dir(s), out}, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			fi, err := os.Stat(tc.dst)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got&0o222 != 0 || got&0o444 == 0 {
				t.Errorf("the copy's mode is %v, want the source's 0444 less the umask", got)
			}
			code, out, stderr := runCLI(t, "check", tc.dst)
			if code != exitOK {
				t.Errorf("check of the copy: exit %d: %s%s", code, out, stderr)
			}
		})
	}
}

// TestHostileCreateErrors: an output that cannot be made (its directory
// missing) is named in the error, with the directory that is missing,
// never by the temporary name the command made it under; nothing is left.
func TestHostileCreateErrors(t *testing.T) {
	src := sampleDB(t)
	dump := filepath.Join(t.TempDir(), "d.txt")
	if code, _, stderr := runCLI(t, "dump", src, "-o", dump); code != exitOK {
		t.Fatalf("dump: %s", stderr)
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "no")
	for _, tc := range []struct {
		args []string
		dst  string
	}{
		{[]string{"compact", src, "DST"}, "c.db"},
		{[]string{"backup", src, "DST"}, "b.db"},
		{[]string{"backup", "--zstd", src, "DST"}, "b.db.zst"},
		{[]string{"dump", src, "-o", "DST"}, "d.txt"},
		{[]string{"load", "DST", "-i", dump}, "l.db"},
	} {
		dst := filepath.Join(missing, tc.dst)
		args := make([]string, len(tc.args))
		for i, a := range tc.args {
			if a == "DST" {
				a = dst
			}
			args[i] = a
		}
		code, _, stderr := runCLI(t, args...)
		line := oneLine(t, args, stderr)
		want := dst + ": cannot create it: directory " + missing + ": no such file or directory"
		if code != exitFail || !strings.Contains(line, want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, line, exitFail, want)
		}
		noTempNames(t, args, line)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestHostileLoadItself: load refuses, as bad usage and before writing,
// to read its own database as the dump (by name, link or standard
// input), and says of another database file given as a dump what it is
// (the dump reader took its first bytes for a text line: "want a header
// line, found "I\x13..."").
func TestHostileLoadItself(t *testing.T) {
	path := sampleDB(t)
	dir := filepath.Dir(path)
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(filepath.Base(path), link); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)
	for _, args := range [][]string{
		{"load", path, "-i", path},
		{"load", path, "-i", link},
		{"load", link, "-i", path},
	} {
		code, _, stderr := runCLI(t, args...)
		if line := oneLine(t, args, stderr); code != exitUsage || !strings.Contains(line, "is the database itself") {
			t.Errorf("%v: exit %d, stderr %q; want %d, the database itself", args, code, line, exitUsage)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out, errb bytes.Buffer
	code := run([]string{"load", path}, f, &out, &errb)
	if line := oneLine(t, []string{"load <db"}, errb.String()); code != exitUsage || line != "folio: standard input is "+path+" itself" {
		t.Errorf("load DB < DB: exit %d, stderr %q", code, line)
	}
	if fileSum(t, path) != before {
		t.Error("the database changed")
	}

	newDB := filepath.Join(t.TempDir(), "new.db")
	for _, tc := range []struct {
		args  []string
		stdin io.Reader
		name  string
	}{
		{[]string{"load", newDB, "-i", path}, strings.NewReader(""), path},
		{[]string{"load", newDB}, f, "standard input"},
	} {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := run(tc.args, tc.stdin, &out, &errb)
		line := oneLine(t, tc.args, errb.String())
		want := "folio: load " + newDB + ": " + tc.name + ": a folio database file, not a dump"
		if code != exitFail || !strings.HasPrefix(line, want) || !strings.HasSuffix(line, "; nothing was loaded") {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, line, exitFail, want)
		}
		if _, err := os.Stat(newDB); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: made %s (%v)", tc.args, newDB, err)
		}
	}
}

// TestHostileLoadDamagedDB: a load that meets a damaged page of the
// database names the database and the page, not the dump it was reading
// (the message said "load X: DUMP: X: bucket ...": the damage blamed on
// the dump, and X twice).
func TestHostileLoadDamagedDB(t *testing.T) {
	path, leaf := damagedDB(t)
	dump := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(dump, []byte("VERSION=3\nformat=print\ndatabase=users\ntype=btree\nHEADER=END\n user000x\n v\nDATA=END\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"load", path, "-i", dump}
	code, _, stderr := runCLI(t, args...)
	line := oneLine(t, args, stderr)
	want := fmt.Sprintf("folio: load %s: bucket \"users\": corrupt page %d: ", path, leaf)
	if code != exitFail || !strings.HasPrefix(line, want) || !strings.HasSuffix(line, "; nothing was loaded; run \"folio check "+path+"\" to list all the damage") {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, line, exitFail, want)
	}
	if strings.Contains(line, dump) {
		t.Errorf("%q blames the dump", line)
	}
}

// TestHostileMetaFallback: a database opened from its older meta page
// (the newest one, or a page of its commit, unusable: the newest commit
// is lost) is said to be so by every command: info and check in their
// report (check with a note, exit 0: a torn commit was never
// acknowledged), every other command on stderr, once. Before, only info
// said it: check printed "ok", dump and compact copied the older state
// without a word. Read-only commands leave the file as it was.
func TestHostileMetaFallback(t *testing.T) {
	path := fallbackDB(t)
	before := fileSum(t, path)
	warning := "folio: warning: " + path + ": meta page 0 unusable"

	code, out, stderr := runCLI(t, "check", path)
	if code != exitOK || stderr != "" || !strings.Contains(out, "note: "+path+" was opened from an older state: meta page 0 unusable") {
		t.Errorf("check: exit %d, stdout:\n%sstderr: %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, "check", "--json", path)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); code != exitOK || err != nil || !strings.Contains(res.MetaFallback, "meta page 0 unusable") {
		t.Errorf("check --json: exit %d, %v:\n%s", code, err, out)
	}
	if code, _, stderr := runCLI(t, "info", path); code != exitOK || stderr != "" {
		t.Errorf("info: exit %d, stderr %q; want the fallback in its report alone", code, stderr)
	}
	for _, args := range [][]string{
		{"stats", path},
		{"pages", path},
		{"buckets", path},
		{"dump", path},
		{"compact", path, filepath.Join(t.TempDir(), "c.db")},
		{"backup", path, filepath.Join(t.TempDir(), "b.db")},
	} {
		code, _, stderr := runCLI(t, args...)
		line := oneLine(t, args, stderr)
		if code != exitOK || !strings.HasPrefix(line, warning) || !strings.Contains(line, "opened txid 1 from meta page 1") {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", args, code, stderr, exitOK, warning)
		}
	}
	if fileSum(t, path) != before {
		t.Fatal("a read-only command changed the file")
	}
	// A write says it too: what it writes over is the older state.
	args := []string{"put", "--create", path, "b", "k2", "v"}
	if code, _, stderr := runCLI(t, args...); code != exitOK || !strings.HasPrefix(oneLine(t, args, stderr), warning) {
		t.Errorf("put: exit %d, stderr %q", code, stderr)
	}
}

// TestHostileBackupDamaged: a backup whose copy fails its check names
// the page and says how to look at the source, not the temporary copy
// that is gone ("check /dir/.out.db.tmp-123: corrupt page ...").
func TestHostileBackupDamaged(t *testing.T) {
	path, leaf := damagedDB(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"backup", path, filepath.Join(dir, "b.db")},
		{"backup", "--zstd", path, filepath.Join(dir, "b.db.zst")},
	} {
		code, _, stderr := runCLI(t, args...)
		line := oneLine(t, args, stderr)
		want := fmt.Sprintf("folio: backup %s: verify: the copy has ", path)
		if code != exitFail || !strings.HasPrefix(line, want) || !strings.Contains(line, fmt.Sprintf("the first: page %d: checksum", leaf)) ||
			!strings.Contains(line, `"folio check `+path+`"`) {
			t.Errorf("%v: exit %d, stderr %q", args, code, line)
		}
		noTempNames(t, args, line)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestHostileCopySourceDamage: compact and migrate that meet a damaged
// page of their source blame the source, not "copy into" their
// temporary file, and leave nothing.
func TestHostileCopySourceDamage(t *testing.T) {
	path, leaf := damagedDB(t)
	kv := map[string]string{}
	for i := range 2000 {
		kv[fmt.Sprintf("key%04d", i)] = fmt.Sprintf("value of key %d", i)
	}
	bsrc := boltDB(t, dbModel{"b": {KV: kv}})
	damageBoltLeaves(t, bsrc, 16+4, []byte{0xf0, 0xff, 0xff, 0x7f})
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compact", path, filepath.Join(dir, "c.db")}, fmt.Sprintf("folio: compact %s: bucket \"users\": corrupt page %d: checksum", path, leaf)},
		{[]string{"migrate", "--from", "bbolt", bsrc, filepath.Join(dir, "m.db")}, "folio: migrate " + bsrc + ": bbolt file " + bsrc + " is damaged"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		line := oneLine(t, tc.args, stderr)
		if code != exitFail || !strings.HasPrefix(line, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, line, exitFail, tc.want)
		}
		noTempNames(t, tc.args, line)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestHostileLoadCutShort: a dump cut short, in every format it comes
// in, stops the load (exit 1) saying where and that nothing was loaded,
// and leaves no new database; a compressed one cut short says it is the
// compressed input that ends (it said "read: unexpected EOF").
func TestHostileLoadCutShort(t *testing.T) {
	src := sampleDB(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--format", "text"}, "line "},
		{[]string{"--format", "print"}, "line "},
		{[]string{"--format", "binary"}, "cut short"},
		{[]string{"--format", "text", "--zstd"}, "zstd: the compressed input ends inside a frame"},
		{[]string{"--format", "binary", "--zstd"}, "zstd: the compressed input ends inside a frame"},
	} {
		name := strings.Join(tc.flags, "")
		dump := filepath.Join(dir, name)
		if code, _, stderr := runCLI(t, append([]string{"dump", src, "-o", dump}, tc.flags...)...); code != exitOK {
			t.Fatalf("dump %v: %s", tc.flags, stderr)
		}
		b, err := os.ReadFile(dump)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dump, b[:len(b)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(dir, name+".db")
		args := []string{"load", db, "-i", dump}
		code, _, stderr := runCLI(t, args...)
		line := oneLine(t, args, stderr)
		if code != exitFail || !strings.HasPrefix(line, "folio: load "+db+": "+dump+": ") || !strings.Contains(line, tc.want) ||
			!strings.HasSuffix(line, "; nothing was loaded") {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.flags, code, line, exitFail, tc.want)
		}
		if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: the new database was left (%v)", tc.flags, err)
		}
	}
}

// TestHostileLoadInterruptNote: a load into an existing database leaves
// for the interrupt message what an interrupt would leave in it: the
// database as it was, then the keys committed so far. (An interrupt said
// only "interrupted", though the database kept those keys.)
func TestHostileLoadInterruptNote(t *testing.T) {
	defer func(k int) { loadTxKeys = k }(loadTxKeys)
	loadTxKeys = 100
	path := sampleDB(t)
	dump := filepath.Join(t.TempDir(), "d.txt")
	if code, _, stderr := runCLI(t, "dump", path, "--bucket", "users", "-o", dump); code != exitOK {
		t.Fatalf("dump: %s", stderr)
	}
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errb)
	if code := a.run([]string{"load", path, "--bucket", "copy", "-i", dump}); code != exitOK {
		t.Fatalf("load: exit %d: %s", code, errb.String())
	}
	a.cleanups.interrupt()
	msg := a.interruptMessageLocked(syscall.SIGINT, 0)
	want := "folio: interrupted (interrupt); " + path + " keeps the 301 keys in 2 buckets loaded and committed before it, up to line "
	if !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, "\n") {
		t.Errorf("interrupt message %q, want %q...", msg, want)
	}

	// Nothing committed yet: the database is as it was.
	b := &app{stderr: io.Discard, out: &outWriter{w: io.Discard}, timeout: time.Second}
	l := &loader{a: b, path: path, created: map[string]bool{}}
	if err := l.openExisting(); err != nil {
		t.Fatal(err)
	}
	defer l.db.Close()
	b.cleanups.interrupt()
	if msg, want := b.interruptMessageLocked(syscall.SIGTERM, 0), "folio: interrupted (terminated); "+path+" is as it was\n"; msg != want {
		t.Errorf("interrupt message %q, want %q", msg, want)
	}
}

// TestHostileReadOnlyCommandsOnDamagedFiles: the read-only commands
// leave a damaged file, and one opened from its older meta page, byte for
// byte as they were (a read-write open would repair the fallback, and
// give back the file's tail), whatever they exit with, and never with a
// stack trace.
func TestHostileReadOnlyCommandsOnDamagedFiles(t *testing.T) {
	damaged, _ := damagedDB(t)
	for _, path := range []string{fallbackDB(t), damaged} {
		before := fileSum(t, path)
		for _, args := range append(readOnlyCommands[:len(readOnlyCommands):len(readOnlyCommands)],
			[]string{"dump", "DB"}, []string{"dump", "--format", "binary", "DB"}, []string{"checkpoint", "DB"}) {
			code, _, stderr := runCLI(t, withDB(args, path)...)
			if code != exitOK && code != exitFail || strings.Contains(stderr, "goroutine ") {
				t.Errorf("%v: exit %d: %s", args, code, stderr)
			}
			if fileSum(t, path) != before {
				t.Fatalf("%v changed %s", args, path)
			}
		}
	}
}

// TestHostileMigrateFolioFile: migrate given a folio database says what
// it is, not bbolt's "invalid database".
func TestHostileMigrateFolioFile(t *testing.T) {
	src := sampleDB(t)
	dst := filepath.Join(t.TempDir(), "m.db")
	args := []string{"migrate", "--from", "bbolt", src, dst}
	code, _, stderr := runCLI(t, args...)
	want := "folio: " + src + ": not a bbolt database: a folio one already, nothing to migrate"
	if line := oneLine(t, args, stderr); code != exitFail || !strings.HasPrefix(line, want) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, line, exitFail, want)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s made (%v)", dst, err)
	}
}

// endlessReader is an input that never ends (a device such as
// /dev/zero), failing once it has given more than limit bytes.
type endlessReader struct{ n, limit int64 }

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.n > r.limit {
		return 0, errors.New("read on and on")
	}
	clear(p)
	r.n += int64(len(p))
	return len(p), nil
}

// TestHostilePutEndlessValue: put reading its value from an input longer
// than any value (/dev/zero) stops reading past the largest value and
// fails (exit 1) saying so, before opening the database; it read all of
// it first.
func TestHostilePutEndlessValue(t *testing.T) {
	defer func(n int64) { maxValueInput = n }(maxValueInput)
	maxValueInput = 1000
	path := sampleDB(t)
	before := fileSum(t, path)
	for _, format := range []string{"raw", "hex", "base64"} {
		args := []string{"put", "--format", format, path, "users", "6b6b", "--create"}
		var out, errb bytes.Buffer
		in := &endlessReader{limit: 1 << 20}
		code := run(args, in, &out, &errb)
		line := oneLine(t, args, errb.String())
		if code != exitFail || !strings.HasPrefix(line, "folio: the value on standard input is longer than ") || !strings.HasSuffix(line, ": value too large") {
			t.Errorf("%s: exit %d, stderr %q", format, code, line)
		}
		if in.n > 1<<17 {
			t.Errorf("%s: read %d bytes for a value of at most %d", format, in.n, maxValueInput)
		}
	}
	if fileSum(t, path) != before {
		t.Error("the database changed")
	}
	// The largest value still goes in.
	if code, _, stderr := runCLIIn(t, strings.Repeat("v", 1000), "put", path, "users", "big"); code != exitOK {
		t.Errorf("put of %d bytes: exit %d: %s", maxValueInput, code, stderr)
	}
}
