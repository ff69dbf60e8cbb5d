package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestCheckNoteRebuiltFreeList: a database whose free list Open rebuilt
// from the tree (the list damaged) is opened from its newest state; check
// said "note: DB was opened from an older state: free list unreadable
// (...); rebuilt from the tree", as for a fallback to the older meta page.
// The note says the newest state was opened and the list rebuilt; a real
// fallback (meta page 0 zeroed) still says "older state". --json keeps
// the library's note in meta_fallback either way, and says which in
// older_meta and freelist_rebuilt (folio.Info's fields), as info --json
// does; a clean database has neither.
func TestCheckNoteRebuiltFreeList(t *testing.T) {
	rebuilt := sampleDB(t)
	_, fl := rootOf(t, rebuilt)
	flipByte(t, rebuilt, int64(fl)*1024+40)
	older := fallbackDB(t)
	for _, tc := range []struct {
		name, path, note, json string
		olderMeta, rebuilt     bool
	}{
		{"rebuilt free list", rebuilt, "was opened from its newest state, with its free list rebuilt: free list unreadable (", "; rebuilt from the tree", false, true},
		{"older meta page", older, "was opened from an older state: meta page 0 unusable (", "; opened txid ", true, false},
		{"clean", sampleDB(t), "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, _ := runCLI(t, "check", tc.path)
			want := fmt.Sprintf("note: %s %s", tc.path, tc.note)
			if tc.note == "" && strings.Contains(out, "note: ") {
				t.Errorf("check: a note of a clean database:\n%s", out)
			}
			if tc.note != "" && !strings.Contains(out, want) {
				t.Errorf("check: no line %q...:\n%s", want, out)
			}
			if tc.path == rebuilt && strings.Contains(out, "older state") {
				t.Errorf("check says \"older state\" of the newest one:\n%s", out)
			}
			_, out, _ = runCLI(t, "check", "--json", tc.path)
			var res checkJSON
			if err := json.Unmarshal([]byte(out), &res); err != nil || !strings.Contains(res.MetaFallback, tc.json) || (tc.json == "") != (res.MetaFallback == "") {
				t.Errorf("check --json: %v, meta_fallback %q; want it to say %q:\n%s", err, res.MetaFallback, tc.json, out)
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(out), &fields); err != nil || fields["older_meta"] != tc.olderMeta || fields["freelist_rebuilt"] != tc.rebuilt {
				t.Errorf("check --json: %v, older_meta %v, freelist_rebuilt %v; want %v and %v:\n%s",
					err, fields["older_meta"], fields["freelist_rebuilt"], tc.olderMeta, tc.rebuilt, out)
			}
			_, out, _ = runCLI(t, "info", "--json", tc.path)
			if err := json.Unmarshal([]byte(out), &fields); err != nil || fields["older_meta"] != tc.olderMeta || fields["freelist_rebuilt"] != tc.rebuilt {
				t.Errorf("info --json: %v, older_meta %v, freelist_rebuilt %v; want %v and %v:\n%s",
					err, fields["older_meta"], fields["freelist_rebuilt"], tc.olderMeta, tc.rebuilt, out)
			}
			// info's text: "meta fallback: no" unless the older meta was
			// opened, and the free list page's line says it was rebuilt.
			_, out, _ = runCLI(t, "info", tc.path)
			if fellBack := !strings.Contains(out, "meta fallback:   no ("); fellBack != tc.olderMeta {
				t.Errorf("info: meta fallback %v, want %v:\n%s", fellBack, tc.olderMeta, out)
			}
			if said := strings.Contains(out, "(unusable: the free list was rebuilt from the tree)"); said != tc.rebuilt {
				t.Errorf("info: free list rebuilt %v, want %v:\n%s", said, tc.rebuilt, out)
			}
			if tc.note != "" && !strings.Contains(out, tc.json) {
				t.Errorf("info: the library's note, saying %q, not shown:\n%s", tc.json, out)
			}
		})
	}
}

// TestCheckNoteByFieldsNotWords: check's note says an older state or the
// newest one by the library's OlderMeta and FreelistRebuilt, whatever the
// library's note says: it matched the note's first words ("free list "),
// which a rewording of the note would have silently turned around.
func TestCheckNoteByFieldsNotWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  checkJSON
		want string
	}{
		{"older meta, its note reworded", checkJSON{MetaFallback: "free list of words", OlderMeta: true}, "was opened from an older state: free list of words"},
		{"rebuilt, its note reworded", checkJSON{MetaFallback: "the list was rebuilt", FreelistRebuilt: true}, "was opened from its newest state, with its free list rebuilt: the list was rebuilt"},
		{"both", checkJSON{MetaFallback: "both", OlderMeta: true, FreelistRebuilt: true}, "was opened from an older state: both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			tc.res.Path = "x.db"
			tc.res.Problems = []checkProblem{{Error: "a problem"}} // not OK: no counts to print
			printCheck(&app{stdout: &out}, tc.res)
			if want := "note: x.db " + tc.want + "\n"; !strings.Contains(out.String(), want) {
				t.Errorf("printed %q, want a line %q", out.String(), want)
			}
		})
	}
}
