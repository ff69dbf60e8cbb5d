package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
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

// TestStdoutIsDatabase: "folio dump a.db >> a.db", and any command whose
// standard output is the file it reads (through a hard link too), fails
// as bad usage before writing anything, and the file is unchanged.
// Before, the dump, or the command's report, went into the database.
func TestStdoutIsDatabase(t *testing.T) {
	path := sampleDB(t)
	link := filepath.Join(t.TempDir(), "hard.db")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	bolt := boltDB(t, dbModel{"b": {KV: map[string]string{"k": "v"}}})
	dir := t.TempDir()
	for _, tc := range []struct {
		stdout string // the file standard output appends to
		args   []string
	}{
		{path, []string{"dump", path}},
		{link, []string{"dump", path}},
		{path, []string{"dump", path, "--format", "binary", "-o", filepath.Join(dir, "x.dump")}},
		{path, []string{"info", path}},
		{path, []string{"pages", path}},
		{path, []string{"check", path}},
		{path, []string{"get", path, "users", "user001"}},
		{path, []string{"put", path, "users", "k", "v"}},
		{path, []string{"load", path, "-i", "/dev/null"}},
		{path, []string{"backup", path, filepath.Join(dir, "b.db")}},
		{path, []string{"compact", path, filepath.Join(dir, "c.db")}},
		{bolt, []string{"migrate", "--from", "bbolt", bolt, filepath.Join(dir, "m.db")}},
	} {
		before := fileSum(t, tc.stdout)
		out, err := os.OpenFile(tc.stdout, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		code := run(tc.args, strings.NewReader(""), out, &stderr)
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		db := path
		if tc.stdout == bolt {
			db = bolt
		}
		want := "standard output is " + db + " itself"
		if code != exitUsage || !strings.Contains(stderr.String(), want) {
			t.Errorf("%v >> %s: exit %d, stderr %q; want %d and %q", tc.args, filepath.Base(tc.stdout), code, stderr.String(), exitUsage, want)
		}
		if fileSum(t, tc.stdout) != before {
			t.Errorf("%v >> %s: the file changed", tc.args, filepath.Base(tc.stdout))
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the commands left %d files", len(entries))
	}
}

// TestUsageErrorsSayUsage: cobra's verdict on a command line (a missing
// or extra argument, an unknown flag or command) ends with the command's
// usage line, so the user learns which argument is missing: "folio
// delete a.db seq" said only "accepts 3 arg(s), received 2".
func TestUsageErrorsSayUsage(t *testing.T) {
	path := sampleDB(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", path, "users"}, "accepts 3 arg(s), received 2 (usage: folio delete DB PATH KEY [flags]; see folio delete --help)"},
		{[]string{"keys", path}, "accepts 2 arg(s), received 1 (usage: folio keys DB PATH [flags]; see folio keys --help)"},
		{[]string{"info", "--no-such-flag", path}, "unknown flag: --no-such-flag (usage: folio info DB [flags]; see folio info --help)"},
		{[]string{"page", path}, "requires at least 2 arg(s), only received 1 (usage: folio page DB ID... [flags]; see folio page --help)"},
		// After an argument, an unknown flag may be a key: say how to give one.
		{[]string{"get", path, "users", "-k"}, `unknown shorthand flag: 'k' in -k; an argument that starts with "-" goes after "--" (usage: folio get DB PATH KEY [flags]; see folio get --help)`},
		{[]string{"put", path, "users", "--key", "v"}, `unknown flag: --key; an argument that starts with "-" goes after "--" (usage: folio put DB PATH KEY [VALUE] [flags]; see folio put --help)`},
		// Before any argument, a word no flag is named like may be a file.
		{[]string{"info", "-1"}, `unknown shorthand flag: '1' in -1; an argument that starts with "-" goes after "--" (usage: folio info DB [flags]; see folio info --help)`},
		{[]string{"check", "--old.db"}, `unknown flag: --old.db; an argument that starts with "-" goes after "--" (usage: folio check DB [flags]; see folio check --help)`},
		{[]string{"info", "-x"}, "unknown shorthand flag: 'x' in -x (usage: folio info DB [flags]; see folio info --help)"},
		{[]string{"no-such-command"}, `unknown command "no-such-command" for "folio" (see folio --help)`},
		// cobra's suggestion took three more lines, the hint after them.
		{[]string{"--timeout", "1s", "chekc", path}, `unknown command "chekc" for "folio" (did you mean check? see folio --help)`},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		line := oneLine(t, tc.args, stderr)
		if code != exitUsage || line != "folio: "+tc.want {
			t.Errorf("%q: exit %d, %q; want %d, %q", tc.args, code, line, exitUsage, "folio: "+tc.want)
		}
	}
	// A command's own usage error is specific already.
	if code, _, stderr := runCLI(t, "keys", path, "users", "--limit", "-1"); code != exitUsage || strings.Contains(stderr, "usage:") {
		t.Errorf("keys --limit -1: exit %d, %q; want %d, no usage line", code, stderr, exitUsage)
	}
}

// TestHelpTextWrapped: every command's --help text is wrapped to 80
// columns, as a terminal shows it: backup's held a 102-character line,
// which a terminal broke mid-word.
func TestHelpTextWrapped(t *testing.T) {
	root := newRoot(newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}))
	for _, cmd := range root.Commands() {
		for i, line := range strings.Split(cmd.Long, "\n") {
			if n := utf8.RuneCountInString(line); n > 80 {
				t.Errorf("folio %s --help, line %d of the text: %d columns, want 80 at most: %q", cmd.Name(), i+1, n, line)
			}
		}
	}
}

// TestHelpUnknownCommand: "folio help bogus" is bad usage, as "folio
// bogus" is: exit 2 and the same one line, nothing on standard output.
// cobra's help command printed "Unknown help topic" and the root's usage
// and exited 0, so a script asking for help on a command this folio does
// not have went on as if it had it. Help on a command still works.
func TestHelpUnknownCommand(t *testing.T) {
	for _, word := range []string{"bogus", "chekc"} {
		_, _, want := runCLI(t, word)
		code, out, stderr := runCLI(t, "help", word)
		if code != exitUsage || out != "" || stderr != want {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q; want %d, nothing, %q", word, code, out, stderr, exitUsage, want)
		}
	}
	for _, args := range [][]string{{"help"}, {"help", "check"}, {"help", "completion", "bash"}} {
		if code, out, stderr := runCLI(t, args...); code != exitOK || !strings.Contains(out, "Usage:") || stderr != "" {
			t.Errorf("%q: exit %d, %d bytes out, stderr %q; want %d and the help", args, code, len(out), stderr, exitOK)
		}
	}
}

// TestDashArgumentsAfterDoubleDash: a key or value that starts with "-"
// goes after "--", as the flag error's hint says: put stores it, get and
// delete find it.
func TestDashArgumentsAfterDoubleDash(t *testing.T) {
	path := sampleDB(t)
	if code, _, stderr := runCLI(t, "put", path, "users", "--", "-k", "-v"); code != exitOK {
		t.Fatalf("put -- -k -v: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := runCLI(t, "get", path, "users", "--", "-k"); code != exitOK || stdout != "-v" {
		t.Errorf("get -- -k: exit %d, %q, %s; want -v", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "delete", path, "users", "--", "-k"); code != exitOK {
		t.Errorf("delete -- -k: exit %d: %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "get", path, "users", "--", "-k"); code != exitFail {
		t.Errorf("get -- -k after its delete: exit %d, want %d", code, exitFail)
	}
}
