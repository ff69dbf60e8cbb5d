//go:build linux

package folio

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const walOpenFullEnv = "FOLIO_WALOPEN_FULL_CHILD"

// TestWALOpenFullLeavesNoLogDir opens a database in WAL mode for the
// first time where the log's first segment cannot be made (a child under
// a 1 MiB file size limit; segments are 8 MiB): Open fails with EFBIG,
// and the log directory it made is gone again, so the next open of the
// file is not put into WAL mode by an empty directory.
func TestWALOpenFullLeavesNoLogDir(t *testing.T) {
	if path := os.Getenv(walOpenFullEnv); path != "" {
		signal.Ignore(syscall.SIGXFSZ)
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, 0o600, &Options{WAL: true})
		if err == nil {
			_ = db.Close()
			t.Fatal("WAL open under a 1 MiB file size limit succeeded")
		}
		if !errors.Is(err, syscall.EFBIG) {
			t.Fatalf("WAL open: %v, want EFBIG", err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreatePut(t, db, "b", "k", "v")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWALOpenFullLeavesNoLogDir$", "-test.count=1")
	cmd.Env = append(os.Environ(), walOpenFullEnv+"="+path, "GORACE=atexit_sleep_ms=0")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, err := os.Stat(LogDir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed WAL open left %s (stat: %v)", LogDir(path), err)
	}
	db, err = Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
			t.Errorf("after the failed WAL open: k = %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
