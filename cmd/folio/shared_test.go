package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// runCLI runs the command line in process and returns its exit code and
// output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLIIn(t, "", args...)
}

// runCLIIn is runCLI with stdin.
func runCLIIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// makeDB creates a database with 1 KiB pages (so a few hundred keys make
// a tree of several levels), fills it with fill and closes it after
// checking it.
func makeDB(t *testing.T, fill func(tx *folio.Tx) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		if err := db.Update(fill); err != nil {
			t.Fatal(err)
		}
	}
	mustCheckDB(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustCheckDB(t *testing.T, db *folio.DB) {
	t.Helper()
	if err := db.View(func(tx *folio.Tx) error {
		for err := range tx.Check() {
			t.Errorf("check: %v", err)
		}
		return nil
	}); err != nil {
		t.Errorf("check: %v", err)
	}
}

// sampleDB holds nested buckets, a name with a slash, binary keys, a
// large value and enough keys for branch pages:
//
//	users/           300 keys user000..user299
//	users/admins/    "root" = "yes"
//	a/b/c            (empty)
//	"we/ird"         "bin" key 0x00 0xff = "\x01"
//	blobs/           "big" = 3000 bytes (a large value)
func sampleDB(t *testing.T) string {
	t.Helper()
	return makeDB(t, fillSample)
}

func fillSample(tx *folio.Tx) error {
	users, err := tx.CreateBucket([]byte("users"))
	if err != nil {
		return err
	}
	for i := range 300 {
		if err := users.Put(fmt.Appendf(nil, "user%03d", i), fmt.Appendf(nil, "value of user %d", i)); err != nil {
			return err
		}
	}
	admins, err := users.CreateBucket([]byte("admins"))
	if err != nil {
		return err
	}
	if err := admins.Put([]byte("root"), []byte("yes")); err != nil {
		return err
	}
	if _, err := admins.NextSequence(); err != nil {
		return err
	}
	a, err := tx.CreateBucket([]byte("a"))
	if err != nil {
		return err
	}
	b, err := a.CreateBucket([]byte("b"))
	if err != nil {
		return err
	}
	if _, err := b.CreateBucket([]byte("c")); err != nil {
		return err
	}
	weird, err := tx.CreateBucket([]byte("we/ird"))
	if err != nil {
		return err
	}
	if err := weird.Put([]byte{0, 0xff}, []byte{1}); err != nil {
		return err
	}
	blobs, err := tx.CreateBucket([]byte("blobs"))
	if err != nil {
		return err
	}
	return blobs.Put([]byte("big"), bytes.Repeat([]byte("x"), 3000))
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// readOnlyCommands are the commands that must leave the file as it was;
// DB stands for the database path.
var readOnlyCommands = [][]string{
	{"info", "DB"},
	{"info", "--json", "DB"},
	{"stats", "DB"},
	{"stats", "--json", "DB"},
	{"check", "DB"},
	{"pages", "DB"},
	{"page", "DB", "0", "1", "2"},
	{"buckets", "DB"},
	{"keys", "DB", "users"},
	{"get", "DB", "users", "user001"},
}

func withDB(args []string, path string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "DB" {
			a = path
		}
		out[i] = a
	}
	return out
}

// TestReadOnlyCommandsLeaveFileUnchanged hashes the file before and after
// each read-only command.
func TestReadOnlyCommandsLeaveFileUnchanged(t *testing.T) {
	path := sampleDB(t)
	before := fileSum(t, path)
	for _, args := range readOnlyCommands {
		code, _, stderr := runCLI(t, withDB(args, path)...)
		if code != exitOK {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
		if fileSum(t, path) != before {
			t.Fatalf("%v changed the file", args)
		}
	}
}

// TestCommandsReportLock holds the database open read-write (an exclusive
// lock, as another process's writer would) and expects every command to
// give up within --timeout, saying the file is locked.
func TestCommandsReportLock(t *testing.T) {
	path := sampleDB(t)
	db, err := folio.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cmds := append(readOnlyCommands[:len(readOnlyCommands):len(readOnlyCommands)],
		[]string{"put", "DB", "users", "k", "v"},
		[]string{"delete", "DB", "users", "user001"})
	for _, args := range cmds {
		full := append([]string{"--timeout", "100ms"}, withDB(args, path)...)
		code, _, stderr := runCLI(t, full...)
		if code != exitFail || !strings.Contains(stderr, "locked by another process") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and a message saying the file is locked", args, code, stderr)
		}
	}
}

// TestCommandsBadFiles: a missing file or one that is not a database is
// a failure (exit 1) with a clear message, and nothing is created.
func TestCommandsBadFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmds := append(readOnlyCommands[:len(readOnlyCommands):len(readOnlyCommands)],
		[]string{"put", "DB", "users", "k", "v"},
		[]string{"put", "--create", "DB", "users", "k", "v"},
		[]string{"delete", "DB", "users", "user001"})
	subdir := filepath.Join(dir, "sub.db")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{missing, "no such file"},
		{subdir, "is a directory"},
		{text, "not a folio database"},
		{empty, "not a folio database"},
	} {
		for _, args := range cmds {
			code, _, stderr := runCLI(t, withDB(args, tc.path)...)
			if code != exitFail || !strings.Contains(stderr, tc.want) {
				t.Errorf("%v on %s: exit %d, stderr %q; want 1 and %q", args, filepath.Base(tc.path), code, stderr, tc.want)
			}
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a command created %s", missing)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("a command changed the empty file: %v, %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("files in the directory after the commands: %d, want 3", len(entries))
	}
}

func TestUsageErrors(t *testing.T) {
	path := sampleDB(t)
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"info"},
		{"info", path, "extra"},
		{"info", "--nosuchflag", path},
		{"stats"},
		{"check"},
		{"pages"},
		{"page", path},
		{"page", path, "x"},
		{"page", path, "-1"},
		{"buckets"},
		{"keys", path},
		{"keys", path, "users", "--limit", "x"},
		{"keys", path, "users", "--limit", "-1"},
		{"keys", path, "a//b"},
		{"keys", path, `a\q`},
		{"get", path, "users"},
		{"get", path, "users", "k", "--format", "octal"},
		{"get", path, "users", "zz", "--format", "hex"},
		{"put", path, "users"},
		{"delete", path, "users"},
		{"bench", "--keys", "0"},
		{"bench", "--key-size", "4"},
		{"bench", "--value-size", "-1"},
		{"bench", "--batch", "0"},
		{"bench", "--page-size", "1000"},
		{"bench", "--page-size", "131072"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, exitUsage)
		}
		if stderr == "" {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	root := newRoot(&app{})
	for _, name := range []string{"bench", "info", "stats", "check", "checkpoint", "pages", "page", "buckets", "keys", "get", "put", "delete", "backup", "compact"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Errorf("command %s not found: %v", name, err)
			continue
		}
		if cmd.Example == "" {
			t.Errorf("%s: no Example text", name)
		}
		code, out, _ := runCLI(t, name, "--help")
		if code != exitOK || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help: exit %d, output %q", name, code, out)
		}
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, stderr := runCLI(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "folio") {
			t.Errorf("completion %s: exit %d, stderr %s", shell, code, stderr)
		}
	}
}

// TestCompletionUnknownShell: "folio completion bsh > ~/.folio-completion"
// printed the command's help into the file and exited 0, cobra's way with
// a command that only holds others; it is bad usage, naming the shells.
// Without a shell the help is still shown.
func TestCompletionUnknownShell(t *testing.T) {
	args := []string{"completion", "bsh"}
	code, out, stderr := runCLI(t, args...)
	line := oneLine(t, args, stderr)
	if code != exitUsage || out != "" || !strings.Contains(line, `"bsh"`) || !strings.Contains(line, "bash, fish, powershell or zsh") {
		t.Errorf("completion bsh: exit %d, stdout %q, stderr %q; want %d, nothing on stdout, the shells named", code, out, line, exitUsage)
	}
	if code, out, _ := runCLI(t, "completion"); code != exitOK || !strings.Contains(out, "Available Commands:") {
		t.Errorf("completion: exit %d:\n%s", code, out)
	}
}

// failWriter fails every write, as a full disk or a closed pipe does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestStdoutWriteError: a command whose standard output cannot be
// written exits 1, saying so, even when all it printed was a summary.
func TestStdoutWriteError(t *testing.T) {
	path := sampleDB(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"check", path},
		{"page", path, "0"},
		{"compact", path, filepath.Join(dir, "c.db")},
		{"backup", path, filepath.Join(dir, "b.db")},
		{"checkpoint", path},
		{"info", path},
	} {
		var errb bytes.Buffer
		code := run(args, strings.NewReader(""), failWriter{}, &errb)
		if code != exitFail || !strings.Contains(errb.String(), "no space left on device") {
			t.Errorf("%v: exit %d: %s", args[0], code, errb.String())
		}
	}
}

func TestNegativeTimeout(t *testing.T) {
	code, _, stderr := runCLI(t, "--timeout", "-1s", "info", sampleDB(t))
	if code != exitUsage || !strings.Contains(stderr, "--timeout -1s") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// A command's context and the library's errors each start with what the
// other already said; the line says "folio:" once and each part once: no
// part the same as another, and no file named by one part alone
// ("X: ...") that another names ("open X: ...", "dump X: ...").
func TestErrorsSayEachPartOnce(t *testing.T) {
	dir := t.TempDir()
	db := sampleDB(t)
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt := sampleDB(t)
	flipByte(t, corrupt, int64(findPage(t, corrupt, page.FlagLeaf))*1024+600)
	sock := filepath.Join(dir, "s.db")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nodir := filepath.Join(dir, "nodir", "out.db")
	out := filepath.Join(dir, "out.db")
	for _, tc := range []struct {
		args []string
		want string // the whole line, if set
	}{
		{args: []string{"backup", text, filepath.Join(dir, "b.db")}},
		{args: []string{"backup", db, nodir}},
		{args: []string{"compact", db, nodir}},
		{args: []string{"get", db, "nobucket", "k"}},
		{args: []string{"load", "-i", "/dev/null", text}},
		{args: []string{"backup", filepath.Join(dir, "missing.db"), out}},
		{args: []string{"backup", empty, out}},
		{args: []string{"dump", corrupt}},
		{args: []string{"compact", corrupt, out}},
		{args: []string{"backup", corrupt, out}},
		{args: []string{"load", empty, "-i", "/dev/null"},
			want: "folio: load " + empty + ": folio/page: not a folio database (the file is empty); remove it, and load makes the database there; nothing was loaded"},
		{args: []string{"load", db, "-i", dir},
			want: "folio: load " + db + ": " + dir + " is a directory, not a dump; nothing was loaded"},
		{args: []string{"migrate", "--from", "bbolt", sock, out},
			want: "folio: open " + sock + " with bbolt: no such device or address"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitFail {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitFail)
		}
		line := strings.TrimSuffix(stderr, "\n")
		if tc.want != "" && line != tc.want {
			t.Errorf("%v: stderr %q, want %q", tc.args, line, tc.want)
		}
		if !strings.HasPrefix(line, "folio: ") || strings.Contains(line, ": folio: ") || strings.Contains(line, "\n") {
			t.Errorf("%v: stderr %q, want one line saying \"folio:\" once", tc.args, stderr)
		}
		isPath := map[string]bool{}
		for _, a := range tc.args {
			isPath[a] = strings.HasPrefix(a, "/")
		}
		parts := strings.Split(line, ": ")
		for i := 1; i < len(parts); i++ {
			for j := range i {
				p, q := parts[j], parts[i]
				if p == q || isPath[q] && strings.HasSuffix(p, " "+q) || isPath[p] && strings.HasSuffix(q, " "+p) {
					t.Errorf("%v: stderr %q says %q and %q", tc.args, stderr, p, q)
				}
			}
		}
	}
}
