package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// TestCheckOutputNamesPageOnce: each problem line of check names its page
// once, at its start, and says neither "folio:" nor the file, which the
// summary line names. (The lines were "page 3: folio: check PATH: folio:
// corrupt page 3: checksum ...", less the first "folio: check PATH: ".)
func TestCheckOutputNamesPageOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage damages the database at path and returns the page whose
		// line is wanted and that line, a pattern.
		damage func(t *testing.T, path string) (uint64, string)
	}{
		{"checksum", func(t *testing.T, path string) (uint64, string) {
			leaf := uint64(findPage(t, path, page.FlagLeaf))
			flipByte(t, path, int64(leaf)*1024+600)
			return leaf, `checksum \(expected 0x[0-9a-f]+, found 0x[0-9a-f]+\)`
		}},
		{"refused at open", func(t *testing.T, path string) (uint64, string) {
			root, _ := rootOf(t, path)
			flipByte(t, path, int64(root)*1024+40)
			return root, `open refused: checksum \(expected 0x[0-9a-f]+, found 0x[0-9a-f]+\)`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sampleDB(t)
			id, want := tc.damage(t, path)
			code, out, stderr := runCLI(t, "check", path)
			if code != exitFail {
				t.Fatalf("exit %d, want %d:\n%s%s", code, exitFail, out, stderr)
			}
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^page %d: %s$`, id, want)).MatchString(out) {
				t.Errorf("no line %q:\n%s", fmt.Sprintf("page %d: %s", id, want), out)
			}
			pageRef := regexp.MustCompile(`\bpage (\d+)\b`)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			for _, line := range lines[:len(lines)-1] { // the last is the summary
				if strings.Contains(line, "folio:") || strings.Contains(line, path) {
					t.Errorf("line says folio: or the file: %q", line)
				}
				m := pageRef.FindAllStringSubmatch(line, -1)
				if len(m) == 0 {
					continue
				}
				n := 0
				for _, ref := range m {
					if ref[1] == m[0][1] {
						n++
					}
				}
				if n != 1 {
					t.Errorf("line names page %s %d times: %q", m[0][1], n, line)
				}
			}
		})
	}
}

// TestCheckProblemText: what a problem of Tx.Check, or of the library's
// open, says on its line of check's output.
func TestCheckProblemText(t *testing.T) {
	const path = "/d/app.db"
	checkErr := func(err error) error { return fmt.Errorf("folio: check %s: %w", path, err) }
	corrupt := page.Corruptf(5, "key order", "keys after \"b\"", "\"a\"")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"corrupt page", checkErr(corrupt), `key order (expected keys after "b", found "a")`},
		{"in a bucket", checkErr(fmt.Errorf("bucket %q: %w", "users", corrupt)),
			`bucket "users": key order (expected keys after "b", found "a")`},
		// Only the corrupt error's own words are shortened.
		{"bucket named like it", checkErr(fmt.Errorf("bucket %q: %w", "corrupt page 5: x", corrupt)),
			`bucket "corrupt page 5: x": key order (expected keys after "b", found "a")`},
		{"open", fmt.Errorf("folio: open %s: %w", path, corrupt), `open refused: key order (expected keys after "b", found "a")`},
		{"no page", checkErr(fmt.Errorf("%w: top-level key %q is not a bucket", folio.ErrCorrupt, "k")),
			`database file is corrupt: top-level key "k" is not a bucket`},
		{"another file", fmt.Errorf("folio: check %s: %w", "/d/other.db", corrupt),
			`check /d/other.db: key order (expected keys after "b", found "a")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemOf(tc.err).text(path); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
