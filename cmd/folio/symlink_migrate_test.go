package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio"
)

// TestCLISymlinkToWALDB: a database in WAL mode left by a crash
// (commits in DB.wal, not yet in the file), named through a symbolic
// link. The log lies beside the file, not beside the link, and every
// command looked for it only at LogDir of the name it was given
// (main.go openDBWith, checkpoint.go checkpointDB, and folio.Open
// itself). So backup, compact and dump through the link succeeded, exit
// 0, "verified", with a copy at the file's last checkpoint (here: empty)
// and every logged commit missing; checkpoint said "nothing to
// checkpoint; the file holds every commit"; and put through the link
// committed onto the stale file, after which the log no longer followed
// the file and every later open of the database by its own name failed
// (ErrLogMismatch): the logged commits, acknowledged to the program,
// were lost.
func TestCLISymlinkToWALDB(t *testing.T) {
	crashed := crashedWALDB(t, 3)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(crashed, link); err != nil {
		t.Fatal(err)
	}
	fileBefore, logBefore := fileSum(t, crashed), dirSum(t, folio.LogDir(crashed))
	for _, args := range pendingCommands {
		outDir := t.TempDir()
		full := withDB(args, link)
		for i, a := range full {
			full[i] = strings.ReplaceAll(a, "OUT", filepath.Join(outDir, "out.db"))
		}
		code, stdout, stderr := runCLI(t, full...)
		if code != exitFail || !strings.Contains(stderr, "write-ahead log") {
			t.Errorf("%v through a link: exit %d, stdout %.200q, stderr %.200q; want 1: the log beside the file holds commits not in it",
				args, code, stdout, stderr)
		}
		if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
			t.Errorf("%v through a link left %d files in the output directory (a copy without the logged commits)", args, len(entries))
		}
	}
	if fileSum(t, crashed) != fileBefore || dirSum(t, folio.LogDir(crashed)) != logBefore {
		t.Fatal("a read-only command through the link changed the database or its log")
	}

	// checkpoint through the link must replay the log, not report that
	// there is none.
	code, stdout, stderr := runCLI(t, "checkpoint", link)
	if code != exitOK || strings.Contains(stdout, "no write-ahead log") {
		t.Errorf("checkpoint through a link: exit %d, stdout %q, stderr %q; want the log's commits replayed", code, stdout, stderr)
	}

	// A write through the link keeps every logged commit.
	crashed2 := crashedWALDB(t, 3)
	link2 := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(crashed2, link2); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, "put", "--create", link2, "x", "k", "v"); code != exitOK {
		t.Fatalf("put through a link: exit %d, %s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "get", crashed2, "users", moreKey(2))
	if code != exitOK || strings.TrimSuffix(stdout, "\n") != "v" {
		t.Errorf("after a put through a link, get %s of the last logged commit: exit %d, stdout %q, stderr %q; want \"v\"",
			moreKey(2), code, stdout, stderr)
	}
}

// TestCLIMigrateBoltCycle: a damaged bbolt file whose branch
// page names itself as its first child. bbolt follows page ids without
// checking them (Cursor.goToFirstElementOnTheStack appends to its stack
// for ever), and boltTree.each (migrate.go) walks it with a cursor: no
// panic comes for SetPanicOnFault and damaged to turn into an error, the
// process grows until it dies ("fatal error: out of memory", exit 2, the
// status of bad usage) and leaves DST.migrate-* behind. Run in a child
// under a 2 GB address-space limit, so that the machine is spared.
func TestCLIMigrateBoltCycle(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to set the child's memory limit")
	}
	kv := map[string]string{}
	for i := range 2000 {
		kv[fmt.Sprintf("key%04d", i)] = fmt.Sprintf("value of key %d", i)
	}
	src := boltDB(t, dbModel{"b": {KV: kv}})
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ps, n := os.Getpagesize(), 0
	for p := 2 * ps; p+ps <= len(b); p += ps {
		// A branch page (flags 0x01) at its own id: its first element's
		// page id (after pos and ksize) becomes its own.
		if binary.LittleEndian.Uint16(b[p+8:]) == 0x01 && binary.LittleEndian.Uint64(b[p:]) == uint64(p/ps) {
			binary.LittleEndian.PutUint64(b[p+16+8:], uint64(p/ps))
			n++
		}
	}
	if n == 0 {
		t.Fatal("no branch pages")
	}
	if err := os.WriteFile(src, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst.db")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -v 2000000 && exec "$0" "$@"`,
		os.Args[0], "migrate", "--from", "bbolt", src, dst)
	cmd.Env = append(os.Environ(), "FOLIO_TEST_MAIN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	msg := stderr.String()
	if i := strings.Index(msg, "\n\ngoroutine "); i >= 0 {
		msg = msg[:i] // the dump of a fatal error
	}
	if code != exitFail || !strings.Contains(msg, "damaged") {
		t.Errorf("migrate of a bbolt file whose branch page is its own child: exit %d, stderr %.300q; want 1 and a message saying it is damaged", code, msg)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left behind: %v", names)
	}
}
