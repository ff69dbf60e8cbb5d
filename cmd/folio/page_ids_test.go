package main

import (
	"strings"
	"testing"
)

// TestPageIDNotANumber: a page id that is no page number, negative
// included, is bad usage (exit 2) naming the argument, before or after
// "--". "-1" was taken for a flag: cobra's "unknown shorthand flag: '1'
// in -1" named no page id. "--" before the ids still works, and a word
// that is no number in the place of a flag is still a flag error.
func TestPageIDNotANumber(t *testing.T) {
	path := sampleDB(t)
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr; "" for none
	}{
		{[]string{"page", path, "-1"}, exitUsage, `page id "-1" is not a page number`},
		{[]string{"page", path, "0", "-5"}, exitUsage, `page id "-5" is not a page number`},
		{[]string{"page", path, "-1x"}, exitUsage, `page id "-1x" is not a page number`},
		{[]string{"page", path, "--timeout", "1s", "-2"}, exitUsage, `page id "-2" is not a page number`},
		{[]string{"page", path, "--", "-1"}, exitUsage, `page id "-1" is not a page number`},
		{[]string{"page", path, "x"}, exitUsage, `page id "x" is not a page number`},
		{[]string{"page", path, "99999999999999999999"}, exitUsage, `page id "99999999999999999999" is out of range`},
		{[]string{"page", path, "-x"}, exitUsage, `unknown shorthand flag: 'x' in -x`},
		{[]string{"page", path, "--", "0", "1"}, exitOK, ""},
		{[]string{"page", "--", path, "1"}, exitOK, ""},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d: %s", tc.args[2:], code, tc.code, stderr)
		}
		if tc.want == "" {
			if stderr != "" {
				t.Errorf("%q: stderr %q, want none", tc.args[2:], stderr)
			}
			continue
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: stderr %q, want %q", tc.args[2:], stderr, tc.want)
		}
		if tc.code == exitUsage && !strings.Contains(stderr, "usage: folio page DB ID...") {
			t.Errorf("%q: stderr %q, want the usage line", tc.args[2:], stderr)
		}
	}
}

// TestPagePastTheEndFails: a page id past the file's end is a failed
// operation (exit 1), as a missing key is for get: which ids exist
// depends on the file, not on the command line. It was usage (2).
func TestPagePastTheEndFails(t *testing.T) {
	path := sampleDB(t)
	code, stdout, stderr := runCLI(t, "page", path, "0", "99999")
	if code != exitFail || !strings.Contains(stderr, "page 99999 is beyond the end of") || stdout != "" {
		t.Errorf("page past the end: exit %d, stdout %q, stderr %q; want exit %d, nothing shown, the page named", code, stdout, stderr, exitFail)
	}
	if strings.Contains(stderr, "usage:") {
		t.Errorf("page past the end: stderr %q has the usage line, for a failed operation", stderr)
	}
}
