package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"golang.org/x/sys/unix"
)

// TestCLIBackupDevStdoutRefused: "folio backup DB /dev/stdout >>
// log" is refused (exit 2), log kept as it was: backup writes a file it
// verifies and renames into place, and /dev/stdout on a regular file
// named log, so the backup was renamed over log and what it held was
// lost (as dump -o did before 0b02ce1).
func TestCLIBackupDevStdoutRefused(t *testing.T) {
	db := sampleDB(t)
	log := filepath.Join(t.TempDir(), "log.txt")
	if err := os.WriteFile(log, []byte("an earlier line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0) // >> log
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, out := range []string{"/dev/stdout", log} {
		code, stderr := runExeWithStdout(t, f, "backup", db, out)
		want := "folio: OUT " + out + " is standard output"
		if code != exitUsage || !strings.HasPrefix(stderr, want) {
			t.Errorf("backup to %s: exit %d, %q; want exit %d and %q...", out, code, stderr, exitUsage, want)
		}
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "an earlier line\n" {
		t.Errorf("log holds %d bytes, want what it held (%q)", len(got), "an earlier line\n")
	}
	if after, err := os.Stat(log); err != nil || !os.SameFile(before, after) {
		t.Errorf("log was replaced by another file (%v)", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(log)); len(ents) != 1 {
		t.Errorf("the directory holds %d files, want log.txt alone", len(ents))
	}
}

// TestCLILoadNoOverwriteBucketKey: "folio load --no-overwrite"
// keeps a key that exists as a nested bucket, as it keeps one with a
// value: a dump giving that name a value failed the whole load
// ("incompatible value"), since only keys with values were taken to
// exist. The bucket keeps its keys, and the dump's other keys load.
func TestCLILoadNoOverwriteBucketKey(t *testing.T) {
	db := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		n, err := b.CreateBucket([]byte("n"))
		if err != nil {
			return err
		}
		return n.Put([]byte("inner"), []byte("kept"))
	})
	dump := "VERSION=3\nformat=print\ndatabase=b\ntype=btree\nHEADER=END\n k\n v\n n\n plain\nDATA=END\n"
	code, stdout, stderr := runCLIIn(t, dump, "load", "--no-overwrite", db)
	if code != exitOK || !strings.Contains(stdout, "loaded 1 key into 1 bucket") || !strings.Contains(stdout, "1 key existed and was kept") {
		t.Fatalf("load --no-overwrite: exit %d, %q%q", code, stdout, stderr)
	}
	if code, out, stderr := runCLI(t, "get", db, "b/n", "inner"); code != exitOK || out != "kept" {
		t.Errorf("b/n inner: exit %d, %q %s", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, "get", db, "b", "k"); code != exitOK || out != "v" {
		t.Errorf("b k: exit %d, %q %s", code, out, stderr)
	}
	// Without --no-overwrite a value still does not replace a bucket.
	if code, _, stderr := runCLIIn(t, dump, "load", db); code != exitFail || !strings.Contains(stderr, "incompatible value") {
		t.Errorf("load over a bucket: exit %d, %s", code, stderr)
	}
}

// TestCLIDumpMissingBucketWritesNothing: "folio dump DB --bucket
// PATH" with no bucket PATH fails before its first byte: it wrote the
// dump's header (text's VERSION=3 line, binary's frame, a zstd frame)
// and then the error, so a pipe's reader got the start of a dump.
func TestCLIDumpMissingBucketWritesNothing(t *testing.T) {
	db := sampleDB(t)
	for _, args := range [][]string{
		{"--format", "text"},
		{"--format", "print"},
		{"--format", "binary"},
		{"--zstd"},
		{"--format", "binary", "--zstd"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"dump", db, "--bucket", "users/nope"}, args...)...)
		if code != exitFail || stdout != "" || !strings.Contains(stderr, "bucket not found") {
			t.Errorf("dump %v of a missing bucket: exit %d, %d bytes out, %q", args, code, len(stdout), stderr)
		}
	}
}

// TestCLIDamageHintsCheck: a command failing on a damaged page
// (folio.ErrCorrupt) ends its message by naming the command that lists
// all the damage, "folio check DB": it named the page and stopped, so
// the operator learnt of one page of what may be many. A message that
// names folio check already (backup's, checkpoint's) says it once.
func TestCLIDamageHintsCheck(t *testing.T) {
	path := sampleDB(t)
	leaf := findLeafWithUsers(t, path)
	flipByte(t, path, int64(leaf)*1024+600)
	d := t.TempDir()
	hint := `; run "folio check ` + path + `" to list all the damage` + "\n"
	for _, args := range [][]string{
		{"dump", path},
		{"get", path, "users", "user001"},
		{"keys", path, "users"},
		{"buckets", path},
		{"stats", path},
		{"compact", path, filepath.Join(d, "c.db")},
		{"put", path, "users", "user001", "x"},
		{"delete", path, "users", "user001"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFail || !strings.Contains(stderr, "corrupt page") || !strings.HasSuffix(stderr, hint) {
			t.Errorf("%s: exit %d, %q; want exit %d and a message ending %q", args[0], code, stderr, exitFail, hint)
		}
	}
	code, _, stderr := runCLI(t, "backup", path, filepath.Join(d, "b.db"))
	if code != exitFail || strings.Count(stderr, "folio check") != 1 {
		t.Errorf("backup: exit %d, %q; want folio check named once", code, stderr)
	}
}

// TestCLIEmptyDBDumpPipes: "folio dump empty.db | folio load
// new.db" makes an empty new.db: an empty database's text dump was empty,
// which load refuses from a pipe (the writer failed before its first
// byte). Every text dump now opens with a folio_dump=1 line, which load
// recognises and mdb_load ignores; an empty pipe is still refused, and a
// dump without the line (an earlier folio's, mdb_dump's) still loads.
func TestCLIEmptyDBDumpPipes(t *testing.T) {
	empty := makeDB(t, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "print"} {
		code, dump, stderr := runCLI(t, "dump", empty, "--format", format)
		if code != exitOK || dump != "folio_dump=1\n" {
			t.Fatalf("dump --format %s of an empty database: exit %d, %q %s", format, code, dump, stderr)
		}
		dst := filepath.Join(t.TempDir(), "new.db")
		cmd := exec.Command(exe, "load", dst)
		cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1")
		cmd.Stdin = strings.NewReader(dump) // a pipe
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("load of an empty database's dump from a pipe: %v: %s", err, errb.String())
		}
		if code, out, stderr := runCLI(t, "dump", dst); code != exitOK || out != "folio_dump=1\n" {
			t.Errorf("the new database: exit %d, %q %s", code, out, stderr)
		}
	}
	// A dump starts with the line, once, and loads as before.
	db := sampleDB(t)
	code, dump, stderr := runCLI(t, "dump", db)
	if code != exitOK || !strings.HasPrefix(dump, "folio_dump=1\nVERSION=3\n") || strings.Count(dump, "folio_dump=") != 1 {
		t.Fatalf("dump: exit %d, %.40q... %s", code, dump, stderr)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if code, out, stderr := runCLIIn(t, dump, "load", dst); code != exitOK {
		t.Fatalf("load: exit %d %s%s", code, out, stderr)
	}
	sameModel(t, readModel(t, dst), readModel(t, db), true)
	// Without the line (an earlier folio's dump), and concatenated.
	old := strings.TrimPrefix(dump, "folio_dump=1\n")
	for name, in := range map[string]string{"without the line": old, "after an empty dump": "folio_dump=1\n" + dump, "before an empty dump": dump + "folio_dump=1\n"} {
		dst := filepath.Join(t.TempDir(), "copy.db")
		if code, out, stderr := runCLIIn(t, in, "load", dst); code != exitOK {
			t.Errorf("load %s: exit %d %s%s", name, code, out, stderr)
			continue
		}
		sameModel(t, readModel(t, dst), readModel(t, db), true)
	}
	// A dump that fails before its first block is still cut short.
	if code, out, stderr := runCLIIn(t, "folio_dump=1\nVERSION=3\n", "load", filepath.Join(t.TempDir(), "x.db")); code != exitFail || !strings.Contains(stderr, "no HEADER=END") {
		t.Errorf("load of a dump cut in its first header: exit %d %s%s", code, out, stderr)
	}
	if code, out, stderr := runCLIIn(t, "folio_dump=2\n", "load", filepath.Join(t.TempDir(), "x.db")); code != exitFail || !strings.Contains(stderr, "folio_dump") {
		t.Errorf("load of a newer dump: exit %d %s%s", code, out, stderr)
	}
}

// TestCLICopyOntoSource: "folio compact app.db app.db" (and
// migrate with DST its SRC) is refused as bad usage naming the mistake:
// it said "app.db already exists (this command writes a new file; remove
// it first)", advice that removes the database to be copied.
func TestCLICopyOntoSource(t *testing.T) {
	db := sampleDB(t)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Link(db, link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"compact", db, db},
		{"compact", db, link},
		{"migrate", "--from", "bbolt", db, db},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "is the database itself") || strings.Contains(stderr, "remove it") {
			t.Errorf("%v: exit %d, %q; want exit %d and \"is the database itself\"", args, code, stderr, exitUsage)
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
}

// runShell runs script with sh, "$0" being this test binary as folio
// (TestMain): a closed standard input ("<&-") needs a shell to make it.
func runShell(t *testing.T, script string, args ...string) (code int, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{"-c", script, exe}, args...)...)
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

// TestCLIClosedStdin: put without VALUE and load from standard
// input fail when standard input is closed ("<&-"): put set the key to
// the empty value and load made an empty database, both exiting 0, as
// the Go runtime opens /dev/null on a closed standard descriptor.
// "</dev/null" is still an empty value or an empty dump.
func TestCLIClosedStdin(t *testing.T) {
	db := sampleDB(t)
	const want = "folio: standard input is closed"
	code, stderr := runShell(t, `"$0" put "$1" users user001 <&-`, db)
	if code != exitFail || !strings.HasPrefix(stderr, want) {
		t.Errorf("put <&-: exit %d, %q; want exit %d and %q...", code, stderr, exitFail, want)
	}
	if code, out, stderr := runCLI(t, "get", db, "users", "user001"); code != exitOK || out != "value of user 1" {
		t.Errorf("user001 is %q now (exit %d: %s)", out, code, stderr)
	}
	dst := filepath.Join(t.TempDir(), "new.db")
	code, stderr = runShell(t, `"$0" load "$1" <&-`, dst)
	if code != exitFail || !strings.HasPrefix(stderr, want) {
		t.Errorf("load <&-: exit %d, %q; want exit %d and %q...", code, stderr, exitFail, want)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("load <&- made new.db (%v)", err)
	}
	if code, stderr := runShell(t, `"$0" load "$1" </dev/null`, dst); code != exitOK {
		t.Errorf("load </dev/null: exit %d, %q", code, stderr)
	}
	if code, stderr := runShell(t, `"$0" put "$1" users user001 </dev/null`, db); code != exitOK {
		t.Errorf("put </dev/null: exit %d, %q", code, stderr)
	}
}

// TestCLIKeysNewlineRaw: "folio keys" in raw format fails on a
// key holding a newline, which "one per line" printed as two keys ("a\nb"
// read as keys a and b, neither of which exists), saying to use hex or
// base64; those print it.
func TestCLIKeysNewlineRaw(t *testing.T) {
	db := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "a\nb", "c"} {
			if err := b.Put([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	code, out, stderr := runCLI(t, "keys", db, "b")
	if code != exitFail || strings.Contains(out, "a\nb\n") || !strings.Contains(stderr, "--format hex") {
		t.Errorf("keys: exit %d, %q, %q; want exit %d, no split key, and --format hex named", code, out, stderr, exitFail)
	}
	if code, out, stderr := runCLI(t, "keys", db, "b", "--format", "hex"); code != exitOK || out != "61\n610a62\n63\n" {
		t.Errorf("keys --format hex: exit %d, %q %s", code, out, stderr)
	}
}

// TestCLILoadCountsBucketsOnce: a dump holding two blocks of one
// bucket (dumps concatenated) loads "into 1 bucket": the summary counted
// blocks ("2 keys into 2 buckets" of one bucket).
func TestCLILoadCountsBucketsOnce(t *testing.T) {
	block := "VERSION=3\nformat=print\ndatabase=b\ntype=btree\nHEADER=END\n k%d\n v\nDATA=END\n"
	dump := fmt.Sprintf(block, 1) + fmt.Sprintf(block, 2)
	dst := filepath.Join(t.TempDir(), "new.db")
	code, out, stderr := runCLIIn(t, dump, "load", dst)
	if code != exitOK || !strings.HasPrefix(out, "loaded 2 keys into 1 bucket ") {
		t.Errorf("load: exit %d, %q %s; want \"loaded 2 keys into 1 bucket\"", code, out, stderr)
	}
}

// TestCLIOutLinkInStickyDir: dump -o and backup refuse to follow
// a symbolic link in a sticky world-writable directory (/tmp) that
// another user owns, as the kernel's protected_symlinks refuses a
// shell's "> /tmp/x": they read the link and made the file it names
// themselves, so a link planted in /tmp had a root "folio dump app.db -o
// /tmp/report" replace or create any file (here: victim). A link of the
// directory's owner or of the user is followed as before.
func TestCLIOutLinkInStickyDir(t *testing.T) {
	db := sampleDB(t)
	sticky := t.TempDir()
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	link := filepath.Join(sticky, "report")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	// The link's owner as another user, neither the directory's nor ours.
	defer func(f func(fs.FileInfo) int) { fileOwner = f }(fileOwner)
	own := fileOwner
	fileOwner = func(fi fs.FileInfo) int {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return own(fi) + 4242
		}
		return own(fi)
	}
	for _, args := range [][]string{{"dump", db, "-o", link}, {"backup", db, link}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFail || !strings.Contains(stderr, "not following it") || strings.Count(stderr, link) != 1 {
			t.Errorf("%s to a planted link: exit %d, %q; want exit %d and a refusal", args[0], code, stderr, exitFail)
		}
		if _, err := os.Lstat(victim); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s made the file the planted link names (%v)", args[0], err)
		}
	}
	fileOwner = own
	if code, _, stderr := runCLI(t, "dump", db, "-o", link); code != exitOK {
		t.Errorf("dump to our own link: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("dump to our own link did not make its file: %v", err)
	}
}

// TestCLILoadDanglingLink: load into DB, a symbolic link to a
// file that does not exist, says so: it said "cannot create it: no such
// file or directory", of a directory that exists.
func TestCLILoadDanglingLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.db")
	link := filepath.Join(dir, "app.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLIIn(t, "folio_dump=1\n", "load", link)
	if code != exitFail || !strings.Contains(stderr, "a symbolic link to "+target+", which does not exist") {
		t.Errorf("load into a dangling link: exit %d, %q", code, stderr)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target was made (%v)", err)
	}
}

// TestCLIHintsQuotePaths: the command a message tells the user to run
// ("folio check DB", "folio checkpoint DB") names DB as a shell reads
// it, quoted where it holds a space or a quote: the path was pasted in
// as it was, so "folio check my db.db" copied from the message checked
// "my" and failed on "db.db".
func TestCLIHintsQuotePaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	quoted := `'` + strings.ReplaceAll(dir, `'`, `'\''`)

	damaged := filepath.Join(dir, "my db.db")
	if err := os.Rename(sampleDB(t), damaged); err != nil {
		t.Fatal(err)
	}
	flipByte(t, damaged, int64(findLeafWithUsers(t, damaged))*1024+600)
	hint := `; run "folio check ` + quoted + `/my db.db'" to list all the damage` + "\n"
	if code, _, stderr := runCLI(t, "get", damaged, "users", "user001"); code != exitFail || !strings.HasSuffix(stderr, hint) {
		t.Errorf("get: exit %d, %q; want a message ending %q", code, stderr, hint)
	}
	want := `("folio check ` + quoted + `/my db.db'" tells whether the database holds it)`
	if code, _, stderr := runCLI(t, "backup", damaged, filepath.Join(t.TempDir(), "b.db")); code != exitFail || !strings.Contains(stderr, want) {
		t.Errorf("backup: exit %d, %q; want it to say %q", code, stderr, want)
	}
	move := func(from, to string) {
		t.Helper()
		for _, p := range [][2]string{{from, to}, {folio.LogDir(from), folio.LogDir(to)}} {
			if err := os.Rename(p[0], p[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	pending := filepath.Join(dir, "wal db.db")
	move(crashedWALDB(t, 2), pending)
	want = `run "folio checkpoint ` + quoted + `/wal db.db'" to replay them`
	if code, _, stderr := runCLI(t, "info", pending); code != exitFail || !strings.Contains(stderr, want) {
		t.Errorf("info: exit %d, %q; want it to say %q", code, stderr, want)
	}

	// A WAL-mode database whose root is damaged fails checkpoint's open.
	walDamaged := filepath.Join(dir, "damaged wal.db")
	move(walDB(t, 0), walDamaged)
	root, _ := rootOf(t, walDamaged)
	flipByte(t, walDamaged, int64(root)*1024+40)
	want = `(folio check ` + quoted + `/damaged wal.db' lists the damage)`
	if code, _, stderr := runCLI(t, "checkpoint", walDamaged); code != exitFail || !strings.Contains(stderr, want) {
		t.Errorf("checkpoint: exit %d, %q; want it to say %q", code, stderr, want)
	}

	// page on a page inside a run names the page to look at instead.
	runs := filepath.Join(dir, "runs db.db")
	if err := os.Rename(sampleDB(t), runs); err != nil {
		t.Fatal(err)
	}
	_, pages, _ := runCLI(t, "pages", runs)
	start := -1
	for _, line := range strings.Split(pages, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "large" && f[2] != "0" {
			start, _ = strconv.Atoi(f[0])
		}
	}
	want = fmt.Sprintf("(folio page %s/runs db.db' %d)", quoted, start)
	if code, out, stderr := runCLI(t, "page", runs, strconv.Itoa(start+1)); code != exitOK || !strings.Contains(out, want) {
		t.Errorf("page: exit %d, %q (%s); want it to say %q", code, out, stderr, want)
	}
}

// TestNotRegularFileSaysWhatItIs: a database path naming a FIFO or a
// device is refused saying what it is: the library printed the file
// mode's type bits, "not a regular file (p---------)" for a FIFO and
// "(Dc---------)" for /dev/null.
func TestNotRegularFileSaysWhatItIs(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.db")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", fifo}, "not a regular file (a named pipe)"},
		{[]string{"put", fifo, "b", "k", "v"}, "not a regular file (a named pipe)"},
		{[]string{"info", os.DevNull}, "not a regular file (a character device)"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if line := oneLine(t, tc.args, stderr); code != exitFail || !strings.Contains(line, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, line, exitFail, tc.want)
		}
	}
}

// TestCLIDanglingLinkSaysSo: a DB path (or migrate's SRC) that is a
// symbolic link to no file fails saying so, as load's refusal does: every
// other command said "no such file" of a name ls lists.
func TestCLIDanglingLinkSaysSo(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink("gone.db", link); err != nil {
		t.Fatal(err)
	}
	want := link + ": no such file: a symbolic link to gone.db, which does not exist"
	for _, args := range [][]string{{"info", link}, {"dump", link}, {"put", link, "b", "k", "v"}, {"compact", link, filepath.Join(dir, "c.db")},
		{"migrate", "--from", "bbolt", link, filepath.Join(dir, "m.db")}} {
		code, _, stderr := runCLI(t, args...)
		if line := oneLine(t, args, stderr); code != exitFail || !strings.HasSuffix(line, want) {
			t.Errorf("%v: exit %d, %q; want %d, a line ending %q", args, code, line, exitFail, want)
		}
	}
}
