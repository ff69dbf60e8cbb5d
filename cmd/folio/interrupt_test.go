package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
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

// TestInterrupt: SIGINT or SIGTERM sent to a command writing a new file,
// once it has begun to, removes everything the command made (temporary
// files, a new database) and exits 130 or 143, leaving its sources as
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

	cmd := exec.Command(exe, args(s, out)...)
	// Under -race the child would sleep a second as it exits.
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Begun: a file appeared in out, or x.db grew past what the load's
	// first transaction needs (so it committed that one, and grows the
	// file for the next). NB: this polls, but asserts nothing about
	// time: a command that ends first is only run again, larger.
	begun := func() bool {
		if existing {
			fi, err := os.Stat(xdb)
			return err == nil && fi.Size() > xfi.Size()+3<<20
		}
		ents, _ := os.ReadDir(out)
		return len(ents) > 0
	}
	var err error
poll:
	for {
		select {
		case err = <-exited:
			break poll
		default:
		}
		if begun() {
			if serr := cmd.Process.Signal(sig); serr != nil {
				t.Fatal(serr)
			}
			err = <-exited
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
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
