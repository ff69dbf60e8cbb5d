//go:build linux

package folio

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const straceChildEnv = "FOLIO_STRACE_CHILD"

// straceChild runs test (this binary, -test.run) as a child under
// strace -f -y, with straceChildEnv set to arg, tracing calls, and
// returns the trace's lines. It skips the test where strace is missing or
// cannot trace.
func straceChild(t *testing.T, test, arg, calls string) []string {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not found")
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-y", "-e", "trace="+calls, "-o", trace,
		os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), straceChildEnv+"="+arg, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("ptrace")) || bytes.Contains(out, []byte("PTRACE")) {
			t.Skipf("strace cannot trace here: %s", out)
		}
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("strace child: acked")) {
		t.Fatalf("child did not finish:\n%s", out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	return joinResumed(strings.Split(string(b), "\n"))
}

// joinResumed joins the halves strace splits a call into when another
// thread's call comes between ("PID call(args <unfinished ...>", then
// "PID <... call resumed>) = 0") into one line, where the call ended. A
// call never resumed (its process exited) did not return, and goes.
// NB: TestLogDirEntryDurable once failed on a mkdir split so:
// neither half was a whole call.
func joinResumed(lines []string) []string {
	held := map[string]string{} // by PID
	var out []string
	for _, l := range lines {
		pid, rest, _ := strings.Cut(l, " ")
		if start, ok := strings.CutSuffix(l, " <unfinished ...>"); ok {
			held[pid] = start
			continue
		}
		if strings.HasPrefix(rest, "<... ") {
			if _, end, ok := strings.Cut(rest, " resumed>"); ok {
				if start, ok := held[pid]; ok {
					l = start + end
					delete(held, pid)
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// fsyncsOf returns the indexes of the lines of trace that fsync dir.
func fsyncsOf(trace []string, dir string) []int {
	re := regexp.MustCompile(`fsync\(\d+<` + regexp.QuoteMeta(dir) + `>`)
	var at []int
	for i, l := range trace {
		if re.MatchString(l) {
			at = append(at, i)
		}
	}
	return at
}

// TestLogDirEntryDurable: the first WAL-mode Open of a file makes
// the log directory (path.wal). Until 2026-12-06 nothing fsynced the
// directory holding its entry (create synced it before the log existed,
// and wal synced only the log directory's own entries), so a commit
// acknowledged after that was only in a directory whose name a power
// loss could drop: the next Open found no log and opened the empty
// database (the file's meta moves only at checkpoints). Here a child
// opens a new database in WAL mode, commits, and stops without Close,
// under strace: the parent must be fsynced after the mkdir. If it is
// not, the test also opens the power-loss image that allows (the file as
// written, no log directory) to show the commit lost.
func TestLogDirEntryDurable(t *testing.T) {
	if dir := os.Getenv(straceChildEnv); dir != "" {
		db, err := Open(filepath.Join(dir, "a.db"), 0o600, &Options{WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		mustCreatePut(t, db, "b", "k", "v")
		fmt.Println("strace child: acked")
		os.Exit(0) // no Close: no checkpoint
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trace := straceChild(t, "TestLogDirEntryDurable", dir, "mkdir,mkdirat,fsync")
	logDir := filepath.Join(dir, "a.db.wal")
	mkdir := -1
	for i, l := range trace {
		if strings.Contains(l, "mkdir") && strings.Contains(l, `"`+logDir+`"`) && strings.Contains(l, "= 0") {
			mkdir = i
			break
		}
	}
	if mkdir < 0 {
		t.Fatalf("no mkdir of %s in the trace:\n%s", logDir, strings.Join(trace, "\n"))
	}
	syncs := fsyncsOf(trace, dir)
	if len(syncs) == 0 || syncs[0] > mkdir {
		// create syncs the directory after it links the new file: the
		// trace must show that, or it cannot show the one missing.
		t.Fatalf("no fsync of %s before the mkdir (create's): the trace is not read right:\n%s", dir, strings.Join(trace, "\n"))
	}
	if last := syncs[len(syncs)-1]; last > mkdir {
		return // the log's entry was made durable
	}
	t.Errorf("the log directory %s was made (trace line %d) and a commit acknowledged, but %s was last fsynced before (line %d)",
		logDir, mkdir, dir, syncs[len(syncs)-1])

	// The power-loss image: the parent's entries as of its last fsync
	// (a.db, no a.db.wal), a.db as written (a superset of what is
	// durable; its meta is the new database's either way, as a commit in
	// WAL mode writes no meta to the file).
	img := filepath.Join(t.TempDir(), "a.db")
	b, err := os.ReadFile(filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "a.db"), img} {
		db, err := Open(p, 0o600, &Options{WAL: true})
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		var v []byte
		if err := db.View(func(tx *Tx) error {
			if bk := tx.Bucket([]byte("b")); bk != nil {
				v = bytes.Clone(bk.Get([]byte("k")))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		switch {
		case p != img && string(v) != "v":
			t.Fatalf("the crashed database itself (log kept) lost k: %q", v)
		case p == img && string(v) != "v":
			t.Errorf("power-loss image without %s: the acknowledged commit (bucket b, k=v) is lost", filepath.Base(logDir))
		}
	}
}

// TestCopyFileDirSync: Tx.CopyFile creates (or truncates) path,
// writes the copy and fsyncs it, then fsyncs the directory: until
// 2026-12-06 it did not, and a copy to a new path that CopyFile returned
// nil for could vanish with a power loss (its data durable, its name
// not). folio backup (outFile.commit) writes aside, renames and syncs.
func TestCopyFileDirSync(t *testing.T) {
	if dir := os.Getenv(straceChildEnv); dir != "" {
		db, err := Open(filepath.Join(dir, "src.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		if err := os.Mkdir(out, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := db.View(func(tx *Tx) error { return tx.CopyFile(filepath.Join(out, "copy.db"), 0o600) }); err != nil {
			t.Fatal(err)
		}
		fmt.Println("strace child: acked")
		os.Exit(0)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trace := straceChild(t, "TestCopyFileDirSync", dir, "openat,fsync")
	copyPath := filepath.Join(dir, "out", "copy.db")
	created, synced := -1, -1
	fileSync := regexp.MustCompile(`fsync\(\d+<` + regexp.QuoteMeta(copyPath) + `>`)
	for i, l := range trace {
		if created < 0 && strings.Contains(l, `"`+copyPath+`"`) && strings.Contains(l, "O_CREAT") {
			created = i
		}
		if fileSync.MatchString(l) {
			synced = i
		}
	}
	if created < 0 || synced < created {
		t.Fatalf("the trace shows no create (%d) and fsync (%d) of %s:\n%s", created, synced, copyPath, strings.Join(trace, "\n"))
	}
	for _, i := range fsyncsOf(trace, filepath.Join(dir, "out")) {
		if i > created {
			return
		}
	}
	t.Errorf("CopyFile created %s and returned nil, but never fsynced %s: a power loss can drop the copy's name",
		copyPath, filepath.Join(dir, "out"))
}

// TestStraceJoinResumed: a call strace split around another thread's
// is one line, at its end, and the lines between keep their order.
func TestStraceJoinResumed(t *testing.T) {
	in := []string{
		`10 fsync(3</d>) = 0`,
		`11 mkdirat(AT_FDCWD</d>, "/d/a.db.wal", 0755 <unfinished ...>`,
		`10 fsync(4</d/a.db>) = 0`,
		`11 <... mkdirat resumed>) = 0`,
		`12 fsync(5</d>) = 0`,
		`12 fsync(5</d> <unfinished ...>`,
		``,
	}
	want := []string{
		`10 fsync(3</d>) = 0`,
		`10 fsync(4</d/a.db>) = 0`,
		`11 mkdirat(AT_FDCWD</d>, "/d/a.db.wal", 0755) = 0`,
		`12 fsync(5</d>) = 0`,
		``,
	}
	if got := joinResumed(in); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("joined:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
