package main

import (
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestLogPendingAdviceNamesWriter: a read-only command on a database
// whose log holds commits says to run folio checkpoint; when this user
// cannot write the file or its log, that checkpoint would fail with
// "permission denied", so the advice says who can run it. Before, a
// monitoring user was sent in a circle.
func TestLogPendingAdviceNamesWriter(t *testing.T) {
	path := crashedWALDB(t, 3)
	logDir := folio.LogDir(path)
	code, _, stderr := runCLI(t, "info", path)
	if code != exitFail || strings.Contains(stderr, "as a user who can write") {
		t.Fatalf("writable: exit %d, %q; want 1 and no word on users", code, stderr)
	}
	for _, denied := range []string{path, logDir} {
		real := canWrite
		canWrite = func(p string) bool { return p != denied && real(p) }
		code, _, stderr = runCLI(t, "info", path)
		canWrite = real
		want := `run "folio checkpoint ` + path + `" as a user who can write ` + path + " and " + logDir +
			" (this one cannot write " + denied + ")"
		if code != exitFail || !strings.Contains(stderr, want) {
			t.Errorf("%s not writable: exit %d, %q; want 1 and %q", denied, code, stderr, want)
		}
	}
}
