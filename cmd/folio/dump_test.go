package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/cmd/folio/internal/dumpfmt"
	"golang.org/x/sys/unix"
)

func TestDump(t *testing.T) {
	path := sampleDB(t)
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
		// want are in stdout for exit 0, in stderr otherwise; lack is not
		// in stdout.
		want []string
		lack []string
	}{
		{"text", []string{"dump", path}, exitOK, []string{
			"VERSION=3\nformat=bytevalue\ndatabase=a\ntype=btree\nmapsize=1073741824\nfolio_sequence=0\nfolio_pagesize=1024\nHEADER=END\nDATA=END\n",
			"database=a/b/c\ntype=btree\nfolio_sequence=0\nHEADER=END\nDATA=END\n",
			"database=users/admins\ntype=btree\nfolio_sequence=1\nHEADER=END\n 726f6f74\n 796573\nDATA=END\n",
			"database=we\\/ird\ntype=btree\nfolio_sequence=0\nHEADER=END\n 00ff\n 01\nDATA=END\n",
			" 75736572323939\n", // user299
		}, []string{" 61646d696e73\n"}}, // the nested bucket "admins" is no data line
		{"print", []string{"dump", path, "--format", "print"}, exitOK, []string{
			"format=print\n", " user007\n value of user 7\n", " \\00\\ff\n \\01\n",
		}, nil},
		{"bucket", []string{"dump", path, "--bucket", "users/admins", "--format", "print"}, exitOK, []string{
			"database=users/admins\n", " root\n yes\n",
		}, []string{"user007", "database=users\n", "database=a\n"}},
		{"bucket and below", []string{"dump", path, "--bucket", "a"}, exitOK, []string{
			"database=a\n", "database=a/b\n", "database=a/b/c\n",
		}, []string{"database=users"}},
		{"missing file", []string{"dump", filepath.Join(dir, "nope.db")}, exitFail, []string{"no such file"}, nil},
		{"not a database", []string{"dump", notDB}, exitFail, []string{"not a folio database"}, nil},
		{"missing bucket", []string{"dump", path, "--bucket", "nope/x"}, exitFail, []string{`bucket "nope"`, "bucket not found"}, nil},
		{"bucket is a value", []string{"dump", path, "--bucket", "users/user001"}, exitFail, []string{"not a bucket"}, nil},
		{"bad bucket path", []string{"dump", path, "--bucket", "a//b"}, exitUsage, []string{"empty bucket name"}, nil},
		{"bad format", []string{"dump", path, "--format", "json"}, exitUsage, []string{"unknown dump format"}, nil},
		{"no DB", []string{"dump"}, exitUsage, []string{"accepts 1 arg"}, nil},
		{"output dir missing", []string{"dump", path, "-o", filepath.Join(dir, "no", "dir", "x.dump")}, exitFail, []string{"no such file or directory"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			got := out
			if code != exitOK {
				got = stderr
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, l := range tc.lack {
				if strings.Contains(out, l) {
					t.Errorf("output has %q:\n%s", l, out)
				}
			}
		})
	}
	if fileSum(t, path) != before {
		t.Error("dump changed the database file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the output directory, want only text.db: a failed dump left something", len(entries))
	}
}

// TestDumpOutputFile: -o writes the file whole (no temporary left), and
// leaves nothing when the dump fails.
func TestDumpOutputFile(t *testing.T) {
	path := sampleDB(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "x.dump")
	code, stdout, stderr := runCLI(t, "dump", path, "--format", "binary", "--zstd", "-o", out)
	if code != exitOK || !strings.Contains(stdout, "dumped 303 keys in 7 buckets (binary, zstd) to "+out) {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || len(b) < 4 || string(b[:4]) != "\x28\xb5\x2f\xfd" {
		t.Fatalf("not a zstd file: %v", err)
	}
	code, _, _ = runCLI(t, "dump", path, "--bucket", "nope", "-o", filepath.Join(dir, "y.dump"))
	if code != exitFail {
		t.Fatalf("exit %d", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want 1", len(entries))
	}
}

// TestDumpOutputNotReplaced: -o never replaces the database being dumped,
// and an output that is not a regular file (a FIFO here) is written to,
// not replaced by a file of the same name.
func TestDumpOutputNotReplaced(t *testing.T) {
	path := sampleDB(t)
	before := fileSum(t, path)
	link, hard := filepath.Join(t.TempDir(), "link"), filepath.Join(t.TempDir(), "hard")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, hard); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{path, link, hard} {
		code, _, stderr := runCLI(t, "dump", path, "-o", out)
		if code != exitUsage || !strings.Contains(stderr, "is the database itself") {
			t.Errorf("-o %s: exit %d: %s", out, code, stderr)
		}
	}
	if fileSum(t, path) != before {
		t.Fatal("dump -o the database changed it")
	}

	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	code, stdout, stderr := runCLI(t, "dump", path, "-o", fifo)
	if code != exitOK {
		t.Fatalf("-o FIFO: exit %d: %s", code, stderr)
	}
	if b := <-got; !strings.HasSuffix(string(b), "DATA=END\n") || !strings.Contains(string(b), "database=users\n") {
		t.Errorf("the FIFO's reader got %d bytes, not the dump", len(b))
	}
	if stdout != "" || !strings.Contains(stderr, "dumped 303 keys") {
		t.Errorf("the summary is not on stderr alone: stdout %q, stderr %q", stdout, stderr)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v, %v", fi.Mode(), err)
	}
	// Backup verifies its copy by opening it, so it wants a file.
	if code, _, stderr := runCLI(t, "backup", path, fifo); code != exitFail || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("backup to a FIFO: exit %d: %s", code, stderr)
	}
}

// TestDumpBesideReaderAndWriter: a reader elsewhere does not stop a dump;
// a writer's exclusive lock makes it give up within --timeout, saying so.
func TestDumpBesideReaderAndWriter(t *testing.T) {
	path := sampleDB(t)
	r, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "dump", path); code != exitOK {
		t.Fatalf("dump beside a reader: %s", stderr)
	}
	r.Close()
	w, err := folio.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	code, _, stderr := runCLI(t, "--timeout", "100ms", "dump", path)
	if code != exitFail || !strings.Contains(stderr, "locked by another process") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestDumpCorruptPage: dump verifies checksums as it reads, and a damaged
// page fails it (exit 1, with the page id) rather than dumping garbage.
func TestDumpCorruptPage(t *testing.T) {
	path := sampleDB(t)
	leaf := findLeafWithUsers(t, path)
	flipByte(t, path, int64(leaf)*1024+600)
	code, _, stderr := runCLI(t, "dump", path, "-o", filepath.Join(t.TempDir(), "x"))
	if code != exitFail || !strings.Contains(stderr, "checksum") || !strings.Contains(stderr, fmt.Sprintf("page %d:", leaf)) {
		t.Fatalf("exit %d, want 1 and a checksum error naming page %d: %s", code, leaf, stderr)
	}
}

// TestDumpFailureIsCutShort: a dump that fails part way (a damaged page)
// to standard output, where no temporary file can be taken back, ends
// unfinished, so a load reading it fails as on a dump cut short instead
// of loading the buckets before the damage as if they were all.
func TestDumpFailureIsCutShort(t *testing.T) {
	path := sampleDB(t)
	leaf := findLeafWithUsers(t, path)
	flipByte(t, path, int64(leaf)*1024+600)
	for _, format := range []string{"text", "print", "binary"} {
		for _, z := range []bool{false, true} {
			args := []string{"dump", path, "--format", format}
			if z {
				args = append(args, "--zstd")
			}
			code, dump, stderr := runCLI(t, args...)
			if code != exitFail || !strings.Contains(stderr, "checksum") {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			if len(dump) == 0 {
				t.Fatalf("%v: nothing written before the damage", args)
			}
			dst := filepath.Join(t.TempDir(), "new.db")
			code, out, stderr := runCLIIn(t, dump, "load", dst)
			if code != exitFail || !strings.Contains(stderr, "cut short") && !strings.Contains(stderr, "unexpected end of input") {
				t.Errorf("%v | load: exit %d: %s%s", args, code, out, stderr)
			}
		}
	}
}

// TestDumpDeepBucketPath: a bucket path too long for a text dump's
// header line (buckets nest without limit; here 9 names of 32000 bytes,
// 4 characters each) fails a text dump, saying to use the binary format,
// rather than writing a dump that load refuses; the binary dump loads.
func TestDumpDeepBucketPath(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("top"))
		for i := 0; err == nil && i < 9; i++ {
			b, err = b.CreateBucket(bytes.Repeat([]byte{byte(0x80 + i)}, 32000))
		}
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	dir := t.TempDir()
	for _, format := range []string{"text", "print"} {
		out := filepath.Join(dir, format+".dump")
		code, _, stderr := runCLI(t, "dump", path, "--format", format, "-o", out)
		if code != exitFail || !strings.Contains(stderr, "use the binary format") {
			t.Errorf("dump --format %s: exit %d: %s", format, code, stderr)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("dump --format %s left %s", format, out)
		}
	}
	out := filepath.Join(dir, "binary.dump")
	if code, _, stderr := runCLI(t, "dump", path, "--format", "binary", "-o", out); code != exitOK {
		t.Fatalf("dump --format binary: exit %d: %s", code, stderr)
	}
	dst := filepath.Join(dir, "loaded.db")
	if code, _, stderr := runCLI(t, "load", dst, "-i", out); code != exitOK {
		t.Fatalf("load: exit %d: %s", code, stderr)
	}
	sameModel(t, readModel(t, dst), readModel(t, path), true)
}

// findLeafWithUsers finds a leaf page holding user keys.
func findLeafWithUsers(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for id := 2; (id+1)*1024 <= len(b); id++ {
		if strings.Contains(string(b[id*1024:(id+1)*1024]), "value of user") {
			return id
		}
	}
	t.Fatal("no leaf with user keys")
	return 0
}

func TestDumpLoadHelp(t *testing.T) {
	for _, name := range []string{"dump", "load", "compact", "backup", "migrate"} {
		code, out, _ := runCLI(t, name, "--help")
		if code != exitOK || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help: exit %d, output %q", name, code, out)
		}
	}
}

// TestBlockNamesAreBucketPaths: a dump's block names use the notation of
// the command line's bucket paths, so a name can be pasted into --bucket.
func TestBlockNamesAreBucketPaths(t *testing.T) {
	for _, p := range [][][]byte{
		{[]byte("a")},
		{[]byte("a/b"), []byte(`c\d`), {0, '\n', 0xff, 0x7f}},
		{[]byte("ünï x"), []byte("\u200b"), {0xe2, 0x82}},
	} {
		enc := dumpfmt.EncodePath(p)
		if f := formatPath(p); f != enc {
			t.Errorf("EncodePath %q, formatPath %q", enc, f)
		}
		got, err := parsePath(enc)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("parsePath(%q) = %q, %v; want %q", enc, got, err, p)
		}
	}
}

// withUmask sets the process's umask for the test. NB: process-wide;
// no test of this package runs in parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := unix.Umask(mask)
	t.Cleanup(func() { unix.Umask(old) })
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// TestDumpOutputMode: -o FILE makes a new FILE with the mode "> FILE"
// gives (0666 less the umask), not 0600, and a FILE it replaces keeps its
// mode whole (the umask does not narrow it). Before, both were 0600.
func TestDumpOutputMode(t *testing.T) {
	withUmask(t, 0o027)
	path := sampleDB(t)
	dir := t.TempDir()
	fresh, old := filepath.Join(dir, "new.dump"), filepath.Join(dir, "old.dump")
	if err := os.WriteFile(old, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o664); err != nil {
		t.Fatal(err)
	}
	for out, want := range map[string]os.FileMode{fresh: 0o640, old: 0o664} {
		if code, _, stderr := runCLI(t, "dump", path, "-o", out); code != exitOK {
			t.Fatalf("-o %s: exit %d: %s", filepath.Base(out), code, stderr)
		}
		if got := modeOf(t, out); got != want {
			t.Errorf("-o %s: mode %v, want %v", filepath.Base(out), got, want)
		}
	}
	if b, err := os.ReadFile(old); err != nil || !strings.HasSuffix(string(b), "DATA=END\n") {
		t.Errorf("old.dump not replaced by the dump: %q, %v", b, err)
	}
}

// TestDumpOutputDanglingLink: -o through a symbolic link to a file that
// does not exist yet makes that file and keeps the link, as "> LINK"
// does (before, the link was replaced by a file); a relative link is read
// from the real directory holding it, a chain of links is followed, and
// a loop of links fails, making nothing.
func TestDumpOutputDanglingLink(t *testing.T) {
	withUmask(t, 0o022)
	path := sampleDB(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "real", "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	symlink := func(to, at string) {
		t.Helper()
		if err := os.Symlink(to, at); err != nil {
			t.Fatal(err)
		}
	}
	symlink(sub, filepath.Join(dir, "alias")) // dir/alias -> dir/real/sub
	symlink("../a.dump", filepath.Join(sub, "l1"))
	symlink(filepath.Join(dir, "alias", "l1"), filepath.Join(dir, "chain"))
	for _, tc := range []struct {
		out, made string // -o and the file it must make
	}{
		// Through alias, "../a.dump" is dir/real/a.dump, not dir/a.dump.
		{filepath.Join(dir, "alias", "l1"), filepath.Join(dir, "real", "a.dump")},
		{filepath.Join(dir, "chain"), filepath.Join(dir, "real", "a.dump")},
	} {
		_ = os.Remove(tc.made)
		code, stdout, stderr := runCLI(t, "dump", path, "-o", tc.out)
		if code != exitOK || !strings.Contains(stdout, "to "+tc.out) {
			t.Fatalf("-o %s: exit %d: %s%s", tc.out, code, stdout, stderr)
		}
		if m := modeOf(t, tc.out); m&os.ModeSymlink == 0 {
			t.Errorf("-o %s: the link was replaced by a %v file", tc.out, m)
		}
		if m := modeOf(t, tc.made); m != 0o644 {
			t.Errorf("-o %s: %s has mode %v, want a file of mode 0644", tc.out, tc.made, m)
		}
		if b, err := os.ReadFile(tc.made); err != nil || !strings.HasSuffix(string(b), "DATA=END\n") {
			t.Errorf("-o %s: %s does not hold the dump: %v", tc.out, tc.made, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "a.dump")); err == nil {
		t.Error("a relative link was read from the directory it was reached through")
	}

	loop := filepath.Join(dir, "loop")
	symlink("loop2", loop)
	symlink("loop", filepath.Join(dir, "loop2"))
	before, _ := os.ReadDir(dir)
	code, _, stderr := runCLI(t, "dump", path, "-o", loop)
	if code != exitFail || !strings.Contains(stderr, "create "+loop+": ") || !strings.Contains(stderr, "symbolic links") {
		t.Errorf("-o a loop of links: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("-o a loop of links: %d files in the directory, was %d", len(after), len(before))
	}
	if m := modeOf(t, loop); m&os.ModeSymlink == 0 {
		t.Errorf("-o a loop of links replaced the link by a %v file", m)
	}
}
