package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// findPage returns the first page at or after page 2 of the given kind in
// a database with 1 KiB pages, by reading the file.
func findPage(t *testing.T, path string, kind page.Flags) page.ID {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for id := 2; (id+1)*1024 <= len(b); id++ {
		p := b[id*1024 : (id+1)*1024]
		if page.PageFlags(p) == kind && page.PageID(p) == page.ID(id) {
			return page.ID(id)
		}
	}
	t.Fatalf("no %v page in %s", kind, path)
	return 0
}

// flipByte inverts one byte of the file.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	clean := sampleDB(t)
	corrupt := sampleDB(t)
	leaf := findPage(t, corrupt, page.FlagLeaf)
	flipByte(t, corrupt, int64(leaf)*1024+600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"clean", []string{"check", clean}, exitOK, []string{"ok: ", "303 keys in 7 buckets"}},
		{"empty", []string{"check", makeDB(t, nil)}, exitOK, []string{"ok: 2 pages checked at txid 1, 0 keys in 0 buckets"}},
		{"corrupt", []string{"check", corrupt}, exitFail, []string{fmt.Sprintf("page %d: ", leaf), "checksum", "problems found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	path := sampleDB(t)
	leaf := findPage(t, path, page.FlagLeaf)
	flipByte(t, path, int64(leaf)*1024+600)
	code, out, _ := runCLI(t, "check", "--json", path)
	if code != exitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if res.OK || len(res.Problems) == 0 || res.Problems[0].Page == nil || *res.Problems[0].Page != uint64(leaf) {
		t.Errorf("want a problem on page %d, got %s", leaf, out)
	}
}
