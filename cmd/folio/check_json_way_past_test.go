package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/foliodb/folio"
)

// checkJSONOf runs check --json on path and decodes its report.
func checkJSONOf(t *testing.T, path string) (int, checkJSON) {
	t.Helper()
	code, out, stderr := runCLI(t, "check", "--json", path)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("check --json: exit %d: %v in %q (%s)", code, err, out, stderr)
	}
	return code, res
}

// TestCheckJSONWayPast: check --json of log damage Open refuses says the
// way past it, as the text report's last note does
// (TestCheckLogDamageSaysWayPast): what it costs, the command, and the
// move it makes, for a script to do; doing it makes the database check
// ok. A log path that is no directory gets its way past too. Damage Open
// passes over, and a sound database, get none.
func TestCheckJSONWayPast(t *testing.T) {
	path := crashedWALDB(t, 5)
	v := victimFrame(allFrames(t, path, 2))
	flipByte(t, v.seg, v.off+32+3) // a payload after the last checkpoint
	logDir := folio.LogDir(path)
	code, res := checkJSONOf(t, path)
	w := res.WayPast
	if code != exitFail || w == nil {
		t.Fatalf("check --json of log damage Open refuses: exit %d, way_past %+v; want %d and one", code, w, exitFail)
	}
	if w.Advice != logAsideWay[:len(logAsideWay)-2] || w.Command != logAsideCmd(path) || w.From != logDir || w.To != logDir+".damaged" {
		t.Errorf("way_past %+v", *w)
	}
	if err := os.Rename(w.From, w.To); err != nil {
		t.Fatal(err)
	}
	if code, res := checkJSONOf(t, path); code != exitOK || !res.OK || res.WayPast != nil {
		t.Errorf("check --json with the log moved aside: exit %d, %+v", code, res)
	}

	clean := walDB(t, 5) // closed cleanly: every record before the checkpoint
	v = victimFrame(allFrames(t, clean, 2))
	flipByte(t, v.seg, v.off+32+3)
	if code, res := checkJSONOf(t, clean); code != exitFail || res.WayPast != nil {
		t.Errorf("check --json of damage Open passes over: exit %d, way_past %+v; want %d and none", code, res.WayPast, exitFail)
	}

	notDir := walDB(t, 3)
	logDir = folio.LogDir(notDir)
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logDir, []byte("not a log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, res = checkJSONOf(t, notDir)
	if w := res.WayPast; code != exitFail || w == nil || w.From != logDir || w.To != logDir+".moved" ||
		w.Command != "mv "+shellQuote(logDir)+" "+shellQuote(logDir+".moved") {
		t.Errorf("check --json of a log path that is a file: exit %d, way_past %+v", code, w)
	}
}
