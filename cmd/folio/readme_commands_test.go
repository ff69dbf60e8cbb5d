package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDocsEveryCommandAndFlagInReadme: README's table of
// commands ("The `folio` tool") is where a user learns the CLI. Every
// command must have a row, and every flag of it must be in that row
// (by its long name or its shorthand), so a flag added without a word
// in README fails here; --timeout, which every command takes, must be
// in the section.
func TestDocsEveryCommandAndFlagInReadme(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(b)
	i := strings.Index(sec, "\n## The `folio` tool")
	if i < 0 {
		t.Fatal("README.md has no section \"The `folio` tool\"")
	}
	sec = sec[i+1:]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	var rows []string
	for _, line := range strings.Split(sec, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	root := newRoot(newApp(strings.NewReader(""), io.Discard, io.Discard))
	if !strings.Contains(sec, "`--timeout`") {
		t.Error("README does not document --timeout")
	}
	checked := 0
	for _, cmd := range root.Commands() {
		name := cmd.Name()
		if name == "help" {
			continue
		}
		// A row's first cell names the command as `folio NAME …` or,
		// in a list of several, `NAME DB …`.
		named := regexp.MustCompile("`(folio )?" + name + "[ `]")
		var row string
		for _, r := range rows {
			// The first cell: others mention commands in passing.
			if first, _, _ := strings.Cut(r[2:], " | "); named.MatchString(first) {
				row = r
				break
			}
		}
		if row == "" {
			t.Errorf("folio %s: no row of README's command table names it", name)
			continue
		}
		checked++
		if name == "completion" {
			for _, sub := range cmd.Commands() {
				if !strings.Contains(row, sub.Name()) {
					t.Errorf("folio completion %s: not in its README row", sub.Name())
				}
			}
			continue
		}
		cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			if !strings.Contains(row, "`--"+f.Name) && !strings.Contains(row, "--"+f.Name+" ") && !strings.Contains(row, "--"+f.Name+"]") &&
				(f.Shorthand == "" || !strings.Contains(row, "-"+f.Shorthand+" ")) {
				t.Errorf("folio %s --%s: not in the command's README row", name, f.Name)
			}
		})
	}
	if checked < 17 {
		t.Errorf("checked %d commands; the tree has more", checked)
	}
}
