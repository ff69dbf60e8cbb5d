package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchDirErrors: a --dir bench cannot make its database in says
// what is wrong with the directory given, naming the flag: it said
// "temporary directory: mkdir D/folio-bench-123: not a directory", of
// a name the user never gave.
func TestBenchDirErrors(t *testing.T) {
	db := sampleDB(t)
	missing := filepath.Join(t.TempDir(), "gone")
	for _, tc := range []struct{ dir, want string }{
		{missing, "--dir " + missing + ": no such directory"},
		{db, "--dir " + db + ": a file, not a directory"},
	} {
		args := []string{"bench", "--keys", "10", "--dir", tc.dir}
		code, _, stderr := runCLI(t, args...)
		if line := oneLine(t, args, stderr); code != exitFail || !strings.Contains(line, tc.want) || strings.Contains(line, "folio-bench-") {
			t.Errorf("bench --dir %s: exit %d, %q; want %d and %q", tc.dir, code, line, exitFail, tc.want)
		}
	}
}
