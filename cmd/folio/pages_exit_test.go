package main

import (
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestPagesExitStatus: pages exits as check does, 1 when the listing
// shows damage (a page failing its checksum, a run also on the free
// list, pages leaked, pages past the end of a file cut short, a file the
// library refuses) and 0 otherwise, a torn newest meta page included (a
// commit never acknowledged). It exited 0 whatever it listed, so a
// script running it could not tell a damaged file from a sound one. A
// file whose pages are sound but which the library refuses (its log
// damaged) exits 1 too, saying why in those words, not as a count of
// problems the listing does not show.
func TestPagesExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) string
		want int
	}{
		{"sound", sampleDB, exitOK},
		{"torn newest meta", func(t *testing.T) string {
			path := sampleDB(t)
			flipByte(t, path, 100) // meta page 0's body: the newest, txid 2
			return path
		}, exitOK},
		{"leaf checksum", func(t *testing.T) string {
			path := sampleDB(t)
			flipByte(t, path, int64(findPage(t, path, page.FlagLeaf))*1024+600)
			return path
		}, exitFail},
		{"free and in use", func(t *testing.T) string {
			path, _ := freeInUseDB(t)
			return path
		}, exitFail},
		{"leaked", func(t *testing.T) string {
			path := churnedDB(t)
			m, slot, free := freePages(t, path)
			for id := range free {
				delete(free, id)
				break
			}
			writeFreeList(t, path, m, slot, free)
			return path
		}, exitFail},
		{"cut short", func(t *testing.T) string {
			path := sampleDB(t)
			root, _ := rootOf(t, path)
			if err := os.Truncate(path, int64(root)*1024); err != nil {
				t.Fatal(err)
			}
			return path
		}, exitFail},
		{"log damaged", func(t *testing.T) string {
			path := walDB(t, 5)
			v := victimFrame(allFrames(t, path, 2))
			flipByte(t, v.seg, v.off+16) // the record's LSN, in its header
			return path
		}, exitFail},
		{"refused", func(t *testing.T) string {
			path := sampleDB(t)
			root, _ := rootOf(t, path)
			flipByte(t, path, int64(root)*1024+40)
			return path
		}, exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.db(t)
			if code, out, _ := runCLI(t, "check", path); code != tc.want {
				t.Fatalf("check: exit %d, want %d:\n%s", code, tc.want, out)
			}
			code, out, stderr := runCLI(t, "pages", path)
			if code != tc.want {
				t.Errorf("pages: exit %d, want %d (as check); stderr %q:\n%s", code, tc.want, stderr, out)
			}
			if !strings.HasPrefix(out, "ID ") {
				t.Errorf("pages: no listing:\n%s", out)
			}
			switch {
			case tc.name == "log damaged":
				if want := "the library refuses it (see the warning above), though its pages show no problem\n"; !strings.HasSuffix(stderr, want) {
					t.Errorf("pages: stderr %q, want it to end %q", stderr, want)
				}
			case tc.want == exitFail && !strings.HasSuffix(stderr, " found\n"):
				t.Errorf("pages: stderr %q does not end saying how many problems it found", stderr)
			}
			if tc.want == exitOK && strings.Contains(stderr, "problem") {
				t.Errorf("pages: stderr %q", stderr)
			}
		})
	}
}

// TestPagesLeakedBehindDamage: pages that neither a tree nor the free
// list reaches, in a file with a damaged page, may be reached from that
// page; pages says so, as check does ("leaked, or referenced only from a
// damaged page"), where it called them leaked: with the root damaged,
// every page of the tree under it was listed as leaked.
func TestPagesLeakedBehindDamage(t *testing.T) {
	path := sampleDB(t)
	root, _ := rootOf(t, path)
	flipByte(t, path, int64(root)*1024+40)
	_, out, _ := runCLI(t, "pages", path)
	if !strings.Contains(out, "neither reachable nor on the free list (leaked, or referenced only from a damaged page)") ||
		strings.Contains(out, "(leaked)") {
		t.Errorf("pages:\n%s", out)
	}
	// A sound file's leak is a leak.
	path = churnedDB(t)
	m, slot, free := freePages(t, path)
	for id := range free {
		delete(free, id)
		break
	}
	writeFreeList(t, path, m, slot, free)
	if _, out, _ := runCLI(t, "pages", path); !strings.Contains(out, "neither reachable nor on the free list (leaked)") {
		t.Errorf("pages of a leak:\n%s", out)
	}
}
