package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestPageExitStatus: page exits as check and pages do, 1 when a page it
// shows is damaged (its checksum failing, its header not one folio
// wrote), still printing what it can of every page asked for, and 0
// otherwise. Bytes folio does not vouch for are no damage: an older
// meta page torn by a crash (a commit never acknowledged) and a free
// page's stale content. It exited 0 whatever it showed, so a script
// could not tell a damaged page from a sound one.
func TestPageExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) (path string, ids []page.ID)
		want int
		out  []string // in stdout
	}{
		{"sound", func(t *testing.T) (string, []page.ID) {
			path := sampleDB(t)
			return path, []page.ID{0, 1, findPage(t, path, page.FlagLeaf)}
		}, exitOK, []string{"checksum: ok"}},
		{"leaf checksum", func(t *testing.T) (string, []page.ID) {
			path := sampleDB(t)
			leaf := findPage(t, path, page.FlagLeaf)
			flipByte(t, path, int64(leaf)*1024+600)
			return path, []page.ID{0, leaf, 1}
		}, exitFail, []string{"checksum: bad", "page 1\n  header: kind meta"}},
		{"bad header", func(t *testing.T) (string, []page.ID) {
			path := sampleDB(t)
			leaf := findPage(t, path, page.FlagLeaf)
			flipByte(t, path, int64(leaf)*1024+27) // the overflow's top byte
			return path, []page.ID{leaf}
		}, exitFail, []string{"header: kind leaf", "error: "}},
		{"torn older meta", func(t *testing.T) (string, []page.ID) {
			path := sampleDB(t)
			flipByte(t, path, 100) // meta page 0's body: the newest, txid 2
			return path, []page.ID{0, 1}
		}, exitOK, []string{"page 0\n", "page 1\n"}},
		{"free page", func(t *testing.T) (string, []page.ID) {
			path := churnedDB(t)
			_, _, free := freePages(t, path)
			img, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The first free page holding a stale page of its own (not
			// a stale run's data), so its checksum line is shown.
			for id := page.ID(2); int(id+1)*1024 <= len(img); id++ {
				p := img[int(id)*1024 : int(id+1)*1024]
				if free[id] && page.PageID(p) == id && page.PageOverflow(p) == 0 {
					flipByte(t, path, int64(id)*1024+600)
					return path, []page.ID{id}
				}
			}
			t.Fatal("no free page holding a stale page")
			return "", nil
		}, exitOK, []string{"checksum: bad"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, ids := tc.db(t)
			args := []string{"page", path}
			for _, id := range ids {
				args = append(args, fmt.Sprint(id))
			}
			code, out, stderr := runCLI(t, args...)
			if code != tc.want {
				t.Errorf("exit %d, want %d; stderr %q:\n%s", code, tc.want, stderr, out)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tc.want == exitFail && !strings.HasSuffix(stderr, "1 problem found\n") {
				t.Errorf("stderr %q does not end saying how many problems it found", stderr)
			}
			if tc.want == exitOK && stderr != "" && !strings.Contains(stderr, "warning") {
				t.Errorf("stderr %q", stderr)
			}
		})
	}
}
