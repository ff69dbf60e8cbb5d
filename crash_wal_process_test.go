package folio

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var crashWALKills = flag.Int("crash.walkills", 60, "WAL process-death test: how many times to SIGKILL the committing child")

// The child side of TestProcessDeathWAL: when FOLIO_WAL_CRASH_CHILD names
// a database, TestProcessDeathWALChild opens it in WAL mode (replaying
// what its killed predecessor logged) and commits workload transactions
// from the one after the file's marker on, printing "begin N" before
// transaction N and "ack N" once its Update has returned. Every
// walChildCheckpointEvery transactions it also checkpoints by itself
// between "checkpoint N" and "checkpointed N", besides the checkpoints
// that its small CheckpointBytes start inside commits.
const (
	walChildEnv             = "FOLIO_WAL_CRASH_CHILD"
	walChildCheckpointEvery = 5
)

// walChildOptions: a checkpoint every few commits of the workload.
func walChildOptions() *Options {
	return &Options{PageSize: processPageSize, WAL: true, CheckpointBytes: 24 << 10}
}

func TestProcessDeathWALChild(t *testing.T) {
	path := os.Getenv(walChildEnv)
	if path == "" {
		t.Skip("the child of TestProcessDeathWAL; runs only when it starts it")
	}
	seed, err := strconv.ParseUint(os.Getenv(walChildEnv+"_SEED"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	say := func(format string, v ...any) {
		// One write a line, so a kill never leaves half a line.
		if _, err := os.Stdout.WriteString(fmt.Sprintf(format, v...) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	say("start")
	db, err := Open(path, 0o600, walChildOptions())
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 8 * processPageSize
	n := 0
	if err := db.View(func(tx *Tx) error { n, err = readMarker(tx); return err }); err != nil {
		t.Fatal(err)
	}
	// Children differ: a third log page images, a third operations, which
	// recovery re-runs, and a third whichever the default picks per
	// commit (a log holds one kind, or images then operations).
	db.WALImageLimit = []int{recordsLimit["images"], recordsLimit["operations"], recordsLimit["auto"]}[(seed+uint64(n))%3]
	say("opened %d", n)
	for i := n + 1; i < n+1_000_000; i++ {
		ops := workTxn(seed, i, processPageSize)
		say("begin %d", i)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
		say("ack %d", i)
		if i%walChildCheckpointEvery == 0 {
			say("checkpoint %d", i)
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			say("checkpointed %d", i)
		}
	}
}

// TestProcessDeathWAL is TestProcessDeath in WAL mode: a child commits
// numbered transactions to a real file and its log, checkpointing every
// few commits, and is SIGKILLed at random moments: while it opens (and
// replays the log its predecessor left), inside a commit (writing pages,
// appending the record, syncing the log, or in a checkpoint the commit
// started) or inside an explicit checkpoint. After each kill a copy of
// the file and its log is opened (replaying the log), checked, and must
// hold the last acknowledged transaction or the one in flight, whole.
// The original is left as it is, so the next child replays it itself.
func TestProcessDeathWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per kill")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	dir := t.TempDir()
	path := filepath.Join(dir, "crash.db")
	model := newMBucket()
	last := 0 // the transaction the file holds
	var replays replayCounter
	where := map[string]int{} // what the child was doing when killed
	early, inFlight := 0, 0
	for kill := 0; kill < *crashWALKills; kill++ {
		var waitFor string
		switch r := rng.IntN(10); {
		case r == 0:
			waitFor = "start"
		case r == 1:
			waitFor = "opened"
		case r < 4:
			waitFor = "checkpoint "
		default:
			waitFor = "ack " + strconv.Itoa(last+1+rng.IntN(8))
		}
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		if waitFor == "checkpoint " {
			delay /= 4 // a checkpoint takes a few syncs: land inside it
		}
		ack, lastLine := killWALChild(t, exe, path, seed, waitFor, delay, last)
		where[walKillPhase(lastLine)]++
		if _, err := os.Stat(path); os.IsNotExist(err) {
			if last != 0 {
				t.Fatalf("kill %d: the database file is gone", kill)
			}
			early++
			continue
		}
		// Check a copy: the next child recovers the original.
		cp := filepath.Join(dir, "check.db")
		copyFile(t, path, cp)
		if err := os.RemoveAll(LogDir(cp)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(LogDir(path)); err == nil {
			copyLiveSegments(t, LogDir(path), LogDir(cp))
		}
		db, err := Open(cp, 0o600, &Options{WAL: true, VerifyChecksums: true, Logger: &replays})
		if err != nil {
			t.Fatalf("kill %d (last ack %d, child's last words %q): open: %v", kill, ack, lastLine, err)
		}
		flight, err := checkKilled(t, db, kill, ack, seed, model, &last)
		if flight {
			inFlight++
		}
		if err != nil {
			t.Fatalf("kill %d (child's last words %q): %v", kill, lastLine, err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if last < *crashWALKills {
		t.Fatalf("only %d transactions committed in %d kills; the kills came too early to test anything", last, *crashWALKills)
	}
	t.Logf("%d kills (%d before the file existed; child was %v), %d transactions committed, %d kills left the commit in flight durable, %d checks replayed the log",
		*crashWALKills, early, where, last, inFlight, replays.n)
}

// walKillPhase names what the child was doing by the last line it printed.
func walKillPhase(line string) string {
	word, _, _ := strings.Cut(line, " ")
	switch word {
	case "", "start":
		return "opening"
	case "begin":
		return "committing"
	case "checkpoint":
		return "checkpointing"
	}
	return "between commits"
}

// copyLiveSegments copies the live segments of the log in src (not the
// recycled ones waiting for reuse) to dst.
func copyLiveSegments(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range walSegments(t, src) {
		copyFile(t, p, filepath.Join(dst, filepath.Base(p)))
	}
}

// killWALChild runs TestProcessDeathWALChild and kills it (killTestChild).
func killWALChild(t *testing.T, exe, path string, seed uint64, waitFor string, delay time.Duration, last int) (int, string) {
	t.Helper()
	return killTestChild(t, exe, "TestProcessDeathWALChild", walChildEnv, path, seed, waitFor, delay, last)
}
