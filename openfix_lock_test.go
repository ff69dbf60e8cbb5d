package folio

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestOpenTimeoutAcrossReplacements holds the lock on the database file
// and, each time an opener starts to wait for it, puts a new copy of the
// file at the path, locks that one and lets go of the old: the opener
// gets the lock it waited for, finds the path naming another file and
// waits again. Options.Timeout bounds the whole wait: each attempt may
// wait only for what is left of it (never the whole timeout again), and
// Open ends with ErrTimeout. Before, each retry waited a whole new
// timeout, and such an opener waited for as long as the replacing went on.
func TestOpenTimeoutAcrossReplacements(t *testing.T) {
	for _, ro := range []bool{false, true} {
		name := "read-write"
		if ro {
			name = "read-only"
		}
		t.Run(name, func(t *testing.T) { testOpenTimeoutAcrossReplacements(t, ro) })
	}
}

func testOpenTimeoutAcrossReplacements(t *testing.T, readOnly bool) {
	// NB: a machine that stalls the opener for the whole timeout before
	// its first lock attempt leaves nothing to test: again, with a longer
	// timeout.
	for timeout := 50 * time.Millisecond; ; timeout *= 4 {
		if attempts := openWhileReplaced(t, readOnly, timeout); attempts > 1 {
			return
		}
		if timeout > 5*time.Second {
			t.Fatalf("with a timeout of %v, the file was never replaced under the opener", timeout)
		}
		t.Logf("the timeout of %v was spent before the first lock attempt", timeout)
	}
}

// openWhileReplaced opens the database at a new path with Options.Timeout
// timeout while the file is held and replaced at each lock attempt, and
// returns how many attempts Open made.
func openWhileReplaced(t *testing.T, readOnly bool, timeout time.Duration) int {
	// A safety net, not a bound the test relies on: with the fix, Open
	// gives up once the timeout is spent, after a few thousand
	// replacements at most (each takes several system calls).
	const maxAttempts = 200000
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	img := imageAfterClose(t, db)
	// held is the holder's file: the one at path, locked exclusively.
	held := openLocked(t, path)
	defer func() { _ = held.Close() }()
	replace := func() {
		next := path + ".next"
		if err := os.WriteFile(next, img, 0o600); err != nil {
			t.Fatal(err)
		}
		n := openLocked(t, next)
		if err := os.Rename(next, path); err != nil {
			t.Fatal(err)
		}
		_ = held.Close()
		held = n
	}

	var waits []time.Duration // the timeout of each lock attempt
	stopped := ""             // why the replacing stopped early
	orig := lockFile
	t.Cleanup(func() { lockFile = orig })
	lockFile = func(f *os.File, exclusive bool, wait time.Duration) error {
		waits = append(waits, wait)
		n := len(waits)
		switch {
		case stopped != "":
		case wait > timeout || wait == 0:
			stopped = "waits longer than the timeout"
		case n > 1 && wait >= waits[n-2] && wait > 0:
			// The attempts' time comes out of one deadline: after the
			// first, each may wait less than the one before (time
			// passed between them), or only try (-1) once it is spent.
			stopped = "waits as long as the attempt before it"
		case n > maxAttempts:
			stopped = "went on for too many attempts"
		default:
			replace()
		}
		if stopped != "" {
			// Let go of the lock, so that this attempt succeeds and
			// Open returns.
			_ = held.Close()
		}
		return orig(f, exclusive, wait)
	}

	db, err = Open(path, 0o600, &Options{ReadOnly: readOnly, Timeout: timeout})
	if err == nil {
		_ = db.Close()
	}
	lockFile = orig
	if stopped != "" {
		t.Fatalf("lock attempt %d of an open with Timeout %v %s (it waits %v; the first waited %v); the open returned %v",
			len(waits), timeout, stopped, waits[len(waits)-1], waits[0], err)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("open while the file is replaced again and again: %v, want ErrTimeout", err)
	}
	t.Logf("%d lock attempts, the last waiting %v: %v", len(waits), waits[len(waits)-1], err)
	return len(waits)
}

// openLocked opens the file at path and takes an exclusive lock on it,
// as a process holding the database open does.
func openLocked(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := flock(f, true, -1); err != nil {
		_ = f.Close()
		t.Fatal(err)
	}
	return f
}
