package folio

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var crashKills = flag.Int("crash.kills", 100, "process-death test: how many times to SIGKILL the committing child")

// The child side of TestProcessDeath: when FOLIO_CRASH_CHILD names a
// database, the test binary runs TestProcessDeathChild alone, which opens
// it and commits workload transactions from the one after the file's
// marker on, printing "ack N" once transaction N's Update has returned,
// until it is killed.
const crashChildEnv = "FOLIO_CRASH_CHILD"

const processPageSize = 1024

func TestProcessDeathChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("the child of TestProcessDeath; runs only when it starts it")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashChildEnv+"_SEED"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "start")
	db, err := Open(path, 0o600, &Options{PageSize: processPageSize})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 8 * processPageSize
	n := 0
	if err := db.View(func(tx *Tx) error { n, err = readMarker(tx); return err }); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "opened %d\n", n)
	for i := n + 1; i < n+1_000_000; i++ {
		ops := workTxn(seed, i, processPageSize)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
		// One write, so a kill never leaves half a line.
		if _, err := os.Stdout.WriteString("ack " + strconv.Itoa(i) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProcessDeath runs the test binary as a child that commits numbered
// transactions to a real file, SIGKILLs it at random moments (while it
// creates the file, opens it, or commits), and after each kill reopens
// the file, runs Check, and verifies that it holds exactly the state after
// the last transaction the child acknowledged, or the one after it (in
// flight when killed). The next child carries on from there.
func TestProcessDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per kill")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	path := filepath.Join(dir, "crash.db")
	model := newMBucket()
	last := 0 // the transaction the file holds
	created, inFlight, early := 0, 0, 0
	for kill := 0; kill < *crashKills; kill++ {
		// Kill while it starts up (creating or opening the file), or
		// after a random number of acknowledged commits, at a random
		// moment inside the next one.
		var waitFor string
		switch r := rng.IntN(10); {
		case r == 0:
			waitFor = "start"
		case r == 1:
			waitFor = "opened"
		default:
			waitFor = "ack " + strconv.Itoa(last+1+rng.IntN(8))
		}
		ack := killChild(t, exe, path, seed, waitFor, time.Duration(rng.IntN(3000))*time.Microsecond, last)
		if _, err := os.Stat(path); os.IsNotExist(err) {
			if last != 0 {
				t.Fatalf("kill %d: the database file is gone", kill)
			}
			early++
			continue // killed before the file was created: that is allowed
		}
		created = 1
		db, err := Open(path, 0o600, &Options{VerifyChecksums: true})
		if err != nil {
			t.Fatalf("kill %d (last ack %d): open: %v", kill, ack, err)
		}
		flight, err := checkKilled(t, db, kill, ack, seed, model, &last)
		if flight {
			inFlight++
		}
		if err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if created == 0 || last < *crashKills {
		t.Fatalf("only %d transactions committed in %d kills; the kills came too early to test anything", last, *crashKills)
	}
	leftovers, _ := filepath.Glob(path + ".new-*")
	t.Logf("%d kills (%d before the file existed), %d transactions committed, %d kills left the commit in flight durable, %d temporary files left by kills during creation",
		*crashKills, early, last, inFlight, len(leftovers))
}

// checkKilled checks db, the file a killed child left, and closes it: the
// file must hold the transaction the child acknowledged last (ack) or
// the one after it (in flight, which flight reports), whole. It brings
// model and *last up to that transaction.
func checkKilled(t *testing.T, db *DB, kill, ack int, seed uint64, model *mbucket, last *int) (flight bool, err error) {
	t.Helper()
	for _, err := range checkErrs(db) {
		t.Errorf("kill %d: check: %v", kill, err)
	}
	err = db.View(func(tx *Tx) error {
		j, err := readMarker(tx)
		if err != nil {
			return err
		}
		if j < ack || j > ack+1 {
			return fmt.Errorf("holds transaction %d; the child acknowledged %d", j, ack)
		}
		flight = j == ack+1
		if j < *last {
			return fmt.Errorf("holds transaction %d; an earlier recovery found %d", j, *last)
		}
		for ; *last < j; *last++ {
			applyModel(model, *last+1, workTxn(seed, *last+1, processPageSize))
		}
		if err := diffDB(tx, model); err != nil {
			return fmt.Errorf("transaction %d partly present: %w", j, err)
		}
		return nil
	})
	if cerr := db.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	return flight, err
}

// killChild starts the child on path, waits until it prints a line equal
// to waitFor (or starting with it), waits delay more, SIGKILLs it and
// returns the last transaction it acknowledged (last if none).
func killChild(t *testing.T, exe, path string, seed uint64, waitFor string, delay time.Duration, last int) int {
	t.Helper()
	ack, _ := killTestChild(t, exe, "TestProcessDeathChild", crashChildEnv, path, seed, waitFor, delay, last)
	return ack
}

// killTestChild re-runs the test binary as the child test, with env set
// to path and env_SEED to seed, waits for the line waitFor (or one
// starting with it, for "opened" or a prefix ending in a space), sleeps
// delay, SIGKILLs it, and returns the last acknowledged commit number it
// printed (last if none) and its last line.
func killTestChild(t *testing.T, exe, test, env, path string, seed uint64, waitFor string, delay time.Duration, last int) (int, string) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+path, env+"_SEED="+strconv.FormatUint(seed, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	ack, lastLine := last, ""
	seen := func(line string) {
		if strings.HasPrefix(line, "=== RUN") || strings.HasPrefix(line, "--- ") {
			return // the test framework's, with -v
		}
		lastLine = line
		if n, ok := strings.CutPrefix(line, "ack "); ok {
			ack, _ = strconv.Atoi(n)
		}
	}
	for line := range lines {
		seen(line)
		if line == waitFor || (waitFor == "opened" || strings.HasSuffix(waitFor, " ")) && strings.HasPrefix(line, waitFor) {
			break
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		_ = cmd.Wait()
		t.Fatalf("kill: %v; the child said: %s", err, stderr.String())
	}
	for line := range lines {
		seen(line)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child ended by itself (%v): %s", err, stderr.String())
	}
	return ack, lastLine
}
