package main

import (
	"path/filepath"
	"testing"
)

// TestExitCodeNotByText: a command that fails exits 1 whatever its message
// says, even when it names a key, bucket or file in words cobra uses for
// its own usage errors; cobra's usage errors still exit 2.
func TestExitCodeNotByText(t *testing.T) {
	path := sampleDB(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"get", path, "users", "accepts terms"}, exitFail},
		{[]string{"delete", path, "users", "requires exactly one"}, exitFail},
		{[]string{"get", path, "unknown command", "k"}, exitFail},
		{[]string{"keys", path, "unknown flag"}, exitFail},
		{[]string{"info", filepath.Join(t.TempDir(), "required flag.db")}, exitFail},
		{[]string{"unknown-command"}, exitUsage},
		{[]string{"get", path, "users"}, exitUsage},
		{[]string{"info", "--no-such-flag", path}, exitUsage},
		{[]string{"dump", "-q", path}, exitUsage},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d: %s", tc.args[1:], code, tc.code, stderr)
		}
	}
}
