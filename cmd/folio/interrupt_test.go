package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foliodb/folio"
	bolt "go.etcd.io/bbolt"
)

// TestMain lets a test run folio in a process of its own, which a signal
// needs: this test binary, re-run with FOLIO_TEST_MAIN=1, is folio (as
// golang/go: src/os/exec/exec_test.go re-runs its test binary).
func TestMain(m *testing.M) {
	if os.Getenv("FOLIO_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// interruptValueSize is the size of the sources' values: a load's
// transaction of 10,000 keys writes about 2.2 MB.
const interruptValueSize = 200

// interruptSources are the inputs of the interrupted commands, in a
// directory of their own: a folio database and a bbolt one holding n
// keys in one bucket, and a binary dump of the first.
type interruptSources struct {
	dir, db, bolt, dump string
}

func makeInterruptSources(t *testing.T, n int) interruptSources {
	t.Helper()
	dir := t.TempDir()
	s := interruptSources{dir: dir, db: filepath.Join(dir, "src.db"), bolt: filepath.Join(dir, "src.bolt"),
		dump: filepath.Join(dir, "src.fdump")}
	// Values are windows of random bytes, so zstd has work to do too.
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	random := make([]byte, 1<<16+interruptValueSize)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	next := func(i int) ([]byte, []byte) {
		off := i * 4099 % (1 << 16)
		return fmt.Appendf(nil, "key-%011d", i), random[off : off+interruptValueSize]
	}
	db, err := folio.Open(s.db, 0o600, &folio.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		for i := 0; err == nil && i < n; i++ {
			err = b.Put(next(i))
		}
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(s.bolt, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		b.FillPercent = 1 // keys in order
		for i := 0; err == nil && i < n; i++ {
			err = b.Put(next(i))
		}
		return err
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "dump", s.db, "--format", "binary", "-o", s.dump); code != exitOK {
		t.Fatalf("dump: exit %d: %s", code, stderr)
	}
	return s
}

// dirState lists a directory's files with a hash of each.
func dirState(t *testing.T, dir string) map[string][sha256.Size]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string][sha256.Size]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st[e.Name()] = sha256.Sum256(b)
	}
	return st
}

func names(st map[string][sha256.Size]byte) []string { return slices.Sorted(maps.Keys(st)) }

// TestInterrupt: SIGINT, SIGTERM or SIGHUP sent to a command writing a
// new file, once it has begun to, removes everything the command made
// (temporary files, a new database) and exits 130, 143 or 129, leaving its sources as
// they were; a load into an existing database keeps whole transactions
// and a consistent file. A command that finished before the signal came
// is run again on a source four times as large.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds databases of 40,000 keys and more")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Under nohup (as CI may run) SIGHUP is ignored, and an ignored signal
	// stays ignored across exec, so folio, as it should, would not catch
	// it. A signal this process handles is reset to the default by exec:
	// take SIGHUP here, and the commands start as from a terminal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Built by the parent test, so they outlive a subtest.
	parent, sources := t, map[int]interruptSources{}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		// args is the command line writing into the empty directory out;
		// with existing, out holds the database x.db first.
		args     func(s interruptSources, out string) []string
		existing bool
	}{
		{"backup", syscall.SIGINT, func(s interruptSources, out string) []string {
			return []string{"backup", s.db, filepath.Join(out, "b.db")}
		}, false},
		{"backup-zstd", syscall.SIGTERM, func(s interruptSources, out string) []string {
			return []string{"backup", "--zstd", s.db, filepath.Join(out, "b.db.zst")}
		}, false},
		{"dump", syscall.SIGINT, func(s interruptSources, out string) []string {
			return []string{"dump", s.db, "-o", filepath.Join(out, "d.txt")}
		}, false},
		{"compact", syscall.SIGTERM, func(s interruptSources, out string) []string {
			return []string{"compact", s.db, filepath.Join(out, "c.db")}
		}, false},
		// The terminal closed under it (exit 129).
		{"compact-hangup", syscall.SIGHUP, func(s interruptSources, out string) []string {
			return []string{"compact", s.db, filepath.Join(out, "c.db")}
		}, false},
		{"migrate", syscall.SIGINT, func(s interruptSources, out string) []string {
			return []string{"migrate", "--from", "bbolt", s.bolt, filepath.Join(out, "m.db")}
		}, false},
		{"load-new", syscall.SIGINT, func(s interruptSources, out string) []string {
			return []string{"load", filepath.Join(out, "l.db"), "-i", s.dump}
		}, false},
		{"load-existing", syscall.SIGINT, func(s interruptSources, out string) []string {
			return []string{"load", filepath.Join(out, "x.db"), "-i", s.dump}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := 40_000; ; n *= 4 {
				if n > 40_000*16 {
					t.Fatal("every run finished before the signal")
				}
				s, ok := sources[n]
				if !ok {
					s = makeInterruptSources(parent, n)
					sources[n] = s
				}
				if interruptOnce(t, exe, s, tc.sig, tc.args, tc.existing) {
					return
				}
				t.Logf("%d keys: the command finished before the signal; again with more", n)
			}
		})
	}
}

// interruptOnce runs one command and signals it once it has begun to
// write; false means it finished first.
func interruptOnce(t *testing.T, exe string, s interruptSources, sig syscall.Signal,
	args func(interruptSources, string) []string, existing bool) bool {
	out := t.TempDir()
	xdb := filepath.Join(out, "x.db")
	var xfi os.FileInfo
	if existing {
		db, err := folio.Open(xdb, 0o600, &folio.Options{NoSync: true})
		if err == nil {
			err = db.Update(func(tx *folio.Tx) error {
				b, err := tx.CreateBucket([]byte("old"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if xfi, err = os.Stat(xdb); err != nil {
			t.Fatal(err)
		}
	}
	srcBefore, outBefore := dirState(t, s.dir), dirState(t, out)

	// Begun: a file appeared in out, or x.db grew past what the load's
	// first transaction needs (so it committed that one, and grows the
	// file for the next).
	begun := func() bool {
		if existing {
			fi, err := os.Stat(xdb)
			return err == nil && fi.Size() > xfi.Size()+3<<20
		}
		ents, _ := os.ReadDir(out)
		return len(ents) > 0
	}
	_, stdout, stderr, err := signalOnceBegun(t, exec.Command(exe, args(s, out)...), sig, begun)
	var ee *exec.ExitError
	switch {
	case err == nil || stdout.Len() > 0:
		// It printed its summary: done before the signal came.
		return false
	case !errors.As(err, &ee):
		t.Fatal(err)
	case ee.ExitCode() != 128+int(sig):
		t.Errorf("%v: %v, want exit status %d; stderr: %s", sig, err, 128+int(sig), stderr.String())
	case !strings.Contains(stderr.String(), "interrupted"):
		t.Errorf("stderr does not say it was interrupted: %s", stderr.String())
	}

	if got := dirState(t, s.dir); !maps.Equal(got, srcBefore) {
		t.Errorf("the sources changed: %v, were %v", names(got), names(srcBefore))
	}
	got := dirState(t, out)
	if !existing {
		if len(got) > 0 {
			t.Errorf("left in the output directory: %v", names(got))
		}
		return true
	}
	if !slices.Equal(names(got), names(outBefore)) {
		t.Errorf("the output directory holds %v, held %v", names(got), names(outBefore))
	}
	// Whole transactions: the first holds the bucket and one key fewer.
	m := readModel(t, xdb) // checks the database too
	if m["old"] == nil || m["old"].KV["k"] != "v" {
		t.Errorf("the existing bucket changed: %v", m["old"])
	}
	if d := m["data"]; d != nil {
		if (len(d.KV)+1)%loadTxKeys != 0 {
			t.Errorf("%d keys loaded: not whole transactions of %d", len(d.KV), loadTxKeys)
		}
		t.Logf("interrupted after committing %d keys", len(d.KV))
	}
	return true
}

// TestCleanupsInterrupt: an interrupt removes what is tracked, not what
// was renamed into place or already removed.
func TestCleanupsInterrupt(t *testing.T) {
	dir := t.TempDir()
	var c cleanups
	mk := func(name string) (*cleanup, string) {
		path := filepath.Join(dir, name)
		cl, err := c.track(func() (func(), error) {
			return func() { _ = os.Remove(path) }, os.WriteFile(path, nil, 0o600)
		})
		if err != nil {
			t.Fatal(err)
		}
		return cl, path
	}
	renamed, tmp := mk("out.tmp")
	if err := renamed.done(func() error { return os.Rename(tmp, filepath.Join(dir, "out")) }); err != nil {
		t.Fatal(err)
	}
	failed, _ := mk("failed.tmp")
	if err := failed.done(func() error { return errors.New("rename failed") }); err == nil {
		t.Fatal("done hid its finish's error")
	}
	mk("a.tmp")
	if _, err := c.track(func() (func(), error) { return nil, errors.New("not made") }); err == nil {
		t.Fatal("track hid create's error")
	}
	if n := c.interrupt(); n != 2 {
		t.Errorf("interrupt ran %d removals, want 2 (failed.tmp, a.tmp)", n)
	}
	if got := names(dirState(t, dir)); !slices.Equal(got, []string{"out"}) {
		t.Errorf("left %v, want [out]", got)
	}
}

// TestInterruptLoadNoteCountsEveryCommit: an interrupt of a load into an
// existing database says how many keys the database keeps. The note was
// updated after each commit returned, so a signal between the two (the
// commit's last sync, mostly: 4 of 10 runs of a real load hit it) said
// the keys before the last transaction while the file held it too,
// 10,000 keys more. Right after each commit, here, an interrupt must
// either print the keys committed, or wait and then print them.
func TestInterruptLoadNoteCountsEveryCommit(t *testing.T) {
	defer func(k int) { loadTxKeys = k }(loadTxKeys)
	loadTxKeys = 3
	var dump strings.Builder
	dump.WriteString("VERSION=3\nformat=bytevalue\ndatabase=b\ntype=btree\nHEADER=END\n")
	for i := range 10 {
		fmt.Fprintf(&dump, " %x\n 76\n", fmt.Sprintf("k%02d", i))
	}
	dump.WriteString("DATA=END\n")
	path := sampleDB(t)
	count := regexp.MustCompile(`keeps the (\d+) keys? `)
	var (
		mu     sync.Mutex
		checks []string // problems found, or "" for a note that counted right
		wg     sync.WaitGroup
	)
	// interruptNow does what the signal handler does (cleanups.interrupt
	// keeps the lock; here it is given back), and checks the message.
	interruptNow := func(l *loader, committed int64) {
		msg := l.a.interruptMessageLocked(syscall.SIGINT, 0)
		l.a.cleanups.mu.Unlock()
		problem := ""
		if m := count.FindStringSubmatch(msg); m == nil {
			problem = fmt.Sprintf("an interrupt after %d keys were committed: %q says nothing kept", committed, msg)
		} else if n, _ := strconv.ParseInt(m[1], 10, 64); n < committed {
			problem = fmt.Sprintf("an interrupt after %d keys were committed: %q", committed, msg)
		}
		mu.Lock()
		checks = append(checks, problem)
		mu.Unlock()
	}
	defer func() { loadCommitted = nil }()
	loadCommitted = func(l *loader, committed int64) {
		if l.a.cleanups.mu.TryLock() {
			interruptNow(l, committed)
			return
		}
		// The handler would wait for the lock: as it does here.
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.a.cleanups.mu.Lock()
			interruptNow(l, committed)
		}()
	}
	if code, _, stderr := runCLIIn(t, dump.String(), "load", path, "--bucket", "new"); code != exitOK {
		t.Fatalf("load: exit %d: %s", code, stderr)
	}
	wg.Wait()
	if len(checks) != 4 {
		t.Fatalf("%d commits seen, want 4 (10 keys, 3 a transaction)", len(checks))
	}
	for _, p := range checks {
		if p != "" {
			t.Error(p)
		}
	}
}

// TestInterruptAfterOutputPlaced: once a command has put the file it made
// in place (compact's and migrate's DST, backup's OUT, dump's -o FILE, a
// new database a load made), an interrupt no longer removes it, and the
// message must say it is there. It said only "interrupted", which with
// exit 130 read as nothing made, while the file was there, complete (a
// load that failed part way keeps what it committed, too). Here the
// handler's work runs right after each placement.
func TestInterruptAfterOutputPlaced(t *testing.T) {
	defer func(k int) { loadTxKeys = k }(loadTxKeys)
	loadTxKeys = 3
	src := sampleDB(t)
	bolt := boltDB(t, readModel(t, src))
	dump := "VERSION=3\nformat=bytevalue\ndatabase=b\ntype=btree\nHEADER=END\n" +
		strings.Repeat(" 6b31\n 76\n 6b32\n 76\n", 2) + "DATA=END\n"
	for _, tc := range []struct {
		name  string
		stdin string
		args  func(out string) []string
		code  int
	}{
		{"compact", "", func(out string) []string { return []string{"compact", src, out} }, exitOK},
		{"migrate", "", func(out string) []string { return []string{"migrate", "--from", "bbolt", bolt, out} }, exitOK},
		{"backup", "", func(out string) []string { return []string{"backup", src, out} }, exitOK},
		{"backup-zstd", "", func(out string) []string { return []string{"backup", "--zstd", src, out} }, exitOK},
		{"dump", "", func(out string) []string { return []string{"dump", src, "-o", out} }, exitOK},
		{"load-new", dump, func(out string) []string { return []string{"load", out} }, exitOK},
		// Malformed after its first transaction: the new database keeps it.
		{"load-new-failed", strings.Replace(dump, "DATA=END", " zz\n", 1), func(out string) []string {
			return []string{"load", out}
		}, exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			var notes []string
			defer func() { outputPlaced = nil }()
			outputPlaced = func(c *cleanups, path string) {
				// As the handler does: run what is still tracked, keeping
				// the lock (given back here).
				n := c.interrupt()
				note := c.note
				c.mu.Unlock()
				if n != 0 {
					t.Errorf("%d files still tracked once %s was in place", n, path)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("placed, yet: %v", err)
				}
				notes = append(notes, note)
			}
			code, _, stderr := runCLIIn(t, tc.stdin, tc.args(out)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if len(notes) != 1 {
				t.Fatalf("%d placements seen, want 1", len(notes))
			}
			if !strings.HasPrefix(notes[0], out+" ") || !strings.Contains(notes[0], "before it") {
				t.Errorf("an interrupt once %s was in place says %q of it", out, notes[0])
			}
		})
	}
}

// TestInterruptPutDeleteNoteSaysCommitted: put and delete change a
// database in place, and an interrupt after the commit left the change
// made while it said only "interrupted" (exit 130 or 143): 3 of 20 runs of
// a real delete, signalled at random moments, were stopped then. Right
// after the commit, an interrupt must either say the change was
// committed, or wait and then say it.
func TestInterruptPutDeleteNoteSaysCommitted(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"put", []string{"put", "DB", "users", "user000", "new"}},
		{"put-create", []string{"put", "--create", "DB", "x/y", "k", "v"}},
		{"delete", []string{"delete", "DB", "users", "user000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sampleDB(t)
			args := slices.Clone(tc.args)
			args[slices.Index(args, "DB")] = path
			if msg := interruptAfterCommit(t, args...); !strings.Contains(msg, "committed to "+path) {
				t.Errorf("an interrupt after the commit says %q", msg)
			}
		})
	}
}

// interruptAfterCommit runs the command line, which commits once in
// place, and returns what an interrupt right after the commit says: at
// once, or once the command lets the handler have the lock.
func interruptAfterCommit(t *testing.T, args ...string) string {
	t.Helper()
	var (
		mu    sync.Mutex
		msgs  []string
		wg    sync.WaitGroup
		calls int
	)
	interruptNow := func(a *app) {
		msg := a.interruptMessageLocked(syscall.SIGINT, 0)
		a.cleanups.mu.Unlock()
		mu.Lock()
		msgs = append(msgs, msg)
		mu.Unlock()
	}
	defer func() { inPlaceCommitted = nil }()
	inPlaceCommitted = func(a *app) {
		calls++
		if a.cleanups.mu.TryLock() {
			interruptNow(a)
			return
		}
		// The handler would wait for the lock: as it does here.
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.cleanups.mu.Lock()
			interruptNow(a)
		}()
	}
	if code, _, stderr := runCLI(t, args...); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wg.Wait()
	if calls != 1 || len(msgs) != 1 {
		t.Fatalf("%d commits seen, %d messages, want 1", calls, len(msgs))
	}
	return msgs[0]
}

// TestInterruptCheckpointNote: an interrupted checkpoint said only
// "interrupted", leaving the user to guess whether the log's commits were
// in the file (read-only commands refuse it until they are). Right after
// the checkpoint, an interrupt must say it was done, or wait and say so.
func TestInterruptCheckpointNote(t *testing.T) {
	path := crashedWALDB(t, 3)
	if msg := interruptAfterCommit(t, "checkpoint", path); !strings.Contains(msg, path+" was checkpointed before it") {
		t.Errorf("an interrupt after the checkpoint says %q", msg)
	}
}

// interruptOnRead is standard input that, on the first read, does what
// the signal handler does and records the message it would print.
type interruptOnRead struct {
	a    *app
	data io.Reader
	msgs []string
}

func (r *interruptOnRead) Read(p []byte) (int, error) {
	if r.msgs == nil {
		r.a.cleanups.mu.Lock()
		r.msgs = append(r.msgs, r.a.interruptMessageLocked(syscall.SIGTERM, 0))
		r.a.cleanups.mu.Unlock()
	}
	return r.data.Read(p)
}

// TestInterruptBeforeOpenSaysAsItWas: a load into an existing database,
// and a put, read their input before they open the database (and may
// wait for its lock): an interrupt then said only "interrupted", where
// README promises a load says "is as it was" (1 of 30 runs of a real
// load, signalled at random moments, was stopped then).
func TestInterruptBeforeOpenSaysAsItWas(t *testing.T) {
	dump := "VERSION=3\nformat=bytevalue\ndatabase=b\ntype=btree\nHEADER=END\n 6b31\n 76\nDATA=END\n"
	for _, tc := range []struct {
		name, stdin string
		args        []string
	}{
		{"load", dump, []string{"load", "DB"}},
		{"put", "value", []string{"put", "DB", "users", "user000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sampleDB(t)
			args := slices.Clone(tc.args)
			args[slices.Index(args, "DB")] = path
			var stdout, stderr bytes.Buffer
			a := newApp(nil, &stdout, &stderr)
			in := &interruptOnRead{a: a, data: strings.NewReader(tc.stdin)}
			a.stdin = in
			if code := a.run(args); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if len(in.msgs) != 1 || !strings.Contains(in.msgs[0], "; "+path+" is as it was") {
				t.Errorf("an interrupt before %s opened %s says %q", tc.name, path, in.msgs)
			}
		})
	}
}

// TestInterruptNoteOneLine: the interrupt message is one line whatever
// the paths in its note hold, as an error is (escapeControls): a
// database named "a\nb.db" split it in two.
func TestInterruptNoteOneLine(t *testing.T) {
	a := &app{}
	a.cleanups.note = "a\nb.db is as it was"
	msg := a.interruptMessageLocked(syscall.SIGINT, 1)
	want := `folio: interrupted (interrupt); removed the files it was making; a\nb.db is as it was` + "\n"
	if msg != want {
		t.Errorf("interrupt message %q, want %q", msg, want)
	}
}

// TestInterruptHangupUnderNohup: under nohup, SIGHUP stays ignored, as
// README says: a compact that gets one mid-copy goes on, exits 0, and
// leaves DST whole. (TestInterrupt's compact-hangup is the other half.)
func TestInterruptHangupUnderNohup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds databases of 40,000 keys and more")
	}
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Fatalf("nohup (coreutils) is needed: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for n := 40_000; n <= 40_000*16; n *= 4 {
		s := makeInterruptSources(t, n)
		out := t.TempDir()
		dst := filepath.Join(out, "c.db")
		// Begun: the temporary file is there; DST is not yet. nohup
		// execs the command, so the process signalled is folio's.
		begun := func() bool {
			ents, _ := os.ReadDir(out)
			_, serr := os.Stat(dst)
			return len(ents) > 0 && serr != nil
		}
		signalled, _, stderr, err := signalOnceBegun(t, exec.Command(nohup, exe, "compact", s.db, dst), syscall.SIGHUP, begun)
		if err != nil {
			t.Fatalf("compact under nohup, signalled %v: %v; stderr: %s", signalled, err, stderr.String())
		}
		if !signalled {
			t.Logf("%d keys: the command finished before the signal; again with more", n)
			continue
		}
		if code, _, stderr := runCLI(t, "check", dst); code != exitOK {
			t.Errorf("check of the compacted copy: exit %d: %s", code, stderr)
		}
		return
	}
	t.Fatal("every run finished before the signal")
}

// signalOnceBegun runs cmd, a folio command line of this test binary, and
// sends it sig once begun reports it has begun; it returns whether sig
// was sent, the output and cmd.Wait's error. NB: this polls, but
// asserts nothing about time: a caller whose command ended first runs it
// again, larger.
func signalOnceBegun(t *testing.T, cmd *exec.Cmd, sig syscall.Signal, begun func() bool) (signalled bool, stdout, stderr *bytes.Buffer, err error) {
	t.Helper()
	// Under -race the child would sleep a second as it exits.
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err = <-exited:
			return false, stdout, stderr, err
		default:
		}
		if begun() {
			if serr := cmd.Process.Signal(sig); serr != nil {
				t.Fatal(serr)
			}
			return true, stdout, stderr, <-exited
		}
		time.Sleep(200 * time.Microsecond)
	}
}
