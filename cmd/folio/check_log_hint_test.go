package main

import (
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestCheckLogDamageSaysWayPast: check, which every command refused for
// a damaged log sends the user to, ends its report of damage that Open
// refuses with the way past it, as the other commands' refusal does: it
// listed the damage and said nothing of what to do. Damage Open passes
// over (before the last checkpoint) gets no such note: the database
// opens.
func TestCheckLogDamageSaysWayPast(t *testing.T) {
	path := crashedWALDB(t, 5)
	v := victimFrame(allFrames(t, path, 2))
	flipByte(t, v.seg, v.off+32+3) // a payload after the last checkpoint
	logDir := folio.LogDir(path)
	note := "note: Open refuses " + path + " for the damage to its log; to open the file without it, " +
		"losing the commits only the log holds (none if the database was closed cleanly), move the log aside: mv " +
		shellQuote(logDir) + " " + shellQuote(logDir+".damaged") + "\n"
	code, out, stderr := runCLI(t, "check", path)
	if code != exitFail || !strings.Contains(out, "log segment ") || !strings.Contains(out, note) {
		t.Errorf("check: exit %d, want %d and the note %q:\n%s%s", code, exitFail, note, out, stderr)
	}
	if err := os.Rename(logDir, logDir+".damaged"); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "check", path); code != exitOK {
		t.Errorf("check with the log moved aside: exit %d:\n%s%s", code, out, stderr)
	}

	clean := walDB(t, 5) // closed cleanly: every record before the checkpoint
	v = victimFrame(allFrames(t, clean, 2))
	flipByte(t, v.seg, v.off+32+3)
	if code, _, stderr := runCLI(t, "info", clean); code != exitOK {
		t.Fatalf("info: exit %d, %s; want the damage before the checkpoint passed over", code, stderr)
	}
	code, out, _ = runCLI(t, "check", clean)
	if code != exitFail || !strings.Contains(out, "log segment ") || strings.Contains(out, "note: Open refuses") {
		t.Errorf("check of damage Open passes over: exit %d, want %d, the damage and no note:\n%s", code, exitFail, out)
	}
}
