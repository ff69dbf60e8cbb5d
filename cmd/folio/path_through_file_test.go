package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPathThroughFileNamesFile: a path that goes through a file as if
// it were a directory (DB/x.db, a typo for DB.d/x.db, or "DB/") fails
// naming the part that is a file: "stat D/x.db: not a directory" left
// the user to guess which part was meant, and blamed what looked like
// the file they named. A file to create says the same.
func TestPathThroughFileNamesFile(t *testing.T) {
	db := sampleDB(t)
	dir := filepath.Dir(db)
	in := db + "/x.db"
	notDir := ": no such file: " + db + " is a file, not a directory"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", in}, in + notDir},
		{[]string{"info", db + "/"}, db + "/" + notDir},
		{[]string{"get", in, "users", "k"}, in + notDir},
		{[]string{"put", in, "users", "k", "v"}, in + notDir},
		{[]string{"check", in}, in + notDir},
		{[]string{"checkpoint", in}, in + notDir},
		{[]string{"pages", in}, in + notDir},
		{[]string{"page", in, "0"}, in + notDir},
		{[]string{"compact", in, filepath.Join(dir, "c.db")}, in + notDir},
		{[]string{"backup", in, filepath.Join(dir, "b.db")}, in + notDir},
		{[]string{"migrate", "--from", "bbolt", in, filepath.Join(dir, "m.db")}, in + notDir},
		{[]string{"load", in, "-i", "/dev/null"}, in + notDir},
		{[]string{"load", filepath.Join(dir, "n.db"), "-i", in}, in + notDir},
		{[]string{"dump", db, "-o", in}, in + ": cannot create it: " + db + " is a file, not a directory"},
		{[]string{"compact", db, in}, in + ": cannot create it: " + db + " is a file, not a directory"},
		{[]string{"backup", db, in}, in + ": cannot create it: " + db + " is a file, not a directory"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if line := oneLine(t, tc.args, stderr); code != exitFail || !strings.Contains(line, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, line, exitFail, tc.want)
		}
	}
}
