package main

import (
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestCLILogDamageSaysWayPast: a WAL-mode database whose log has a
// damaged record header is refused by every command (the header's length
// no longer says where the next record lies), even when the file holds
// every commit; the refusal now ends with the way past it, moving the log
// aside, and doing what it says opens the file with every commit.
// Before, the message ended at "run folio check DB", which lists the
// damage and says nothing of what to do about it. The library's error
// says the way past too now (TestOpenLogDamageSaysWayPast), and the
// message says it once, with the command that does it.
func TestCLILogDamageSaysWayPast(t *testing.T) {
	path := walDB(t, 5) // closed cleanly: the file holds every commit
	v := victimFrame(allFrames(t, path, 2))
	flipByte(t, v.seg, v.off+16) // the record's LSN, in its header
	logDir := folio.LogDir(path)
	want := "; to open the file without it, losing the commits only the log holds (none if the database was closed cleanly), move the log aside: mv " +
		shellQuote(logDir) + " " + shellQuote(logDir+".damaged") + "; run \"folio check " + shellQuote(path) + "\" to list all the damage\n"
	for _, args := range [][]string{
		{"info", path},
		{"get", path, "users", moreKey(4)},
		{"put", path, "users", "k", "v"},
		{"checkpoint", path},
		{"backup", path, path + ".bak"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFail || !strings.Contains(stderr, "write-ahead log is damaged") || !strings.HasSuffix(stderr, want) || strings.Count(stderr, "aside") != 1 {
			t.Errorf("%s: exit %d, %q; want %d and a message ending %q", args[0], code, stderr, exitFail, want)
		}
	}
	if err := os.Rename(logDir, logDir+".damaged"); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "check", path); code != exitOK || !strings.Contains(out, "308 keys in 7 buckets") {
		t.Errorf("check with the log moved aside: exit %d: %s%s", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, "get", path, "users", moreKey(4)); code != exitOK || out != "v" {
		t.Errorf("the last commit, with the log moved aside: exit %d, %q: %s", code, out, stderr)
	}
}
