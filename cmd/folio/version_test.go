package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestVersionFlag: folio --version says which folio it is and the
// database format versions it reads and writes, exit 0: it was an
// unknown flag (exit 2), and an operator comparing the tool with the
// program that wrote a file had nothing to go on.
func TestVersionFlag(t *testing.T) {
	want := fmt.Sprintf("reads database format versions 1 to %d, writes %d", page.Version, page.Version)
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		code, out, stderr := runCLI(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "folio ") || !strings.Contains(out, want) || strings.Count(out, "\n") != 1 || stderr != "" {
			t.Errorf("folio %s: exit %d, %q, %q; want %d and one line saying %q", args[0], code, out, stderr, exitOK, want)
		}
	}
}
