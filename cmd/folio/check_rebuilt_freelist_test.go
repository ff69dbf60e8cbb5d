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
// the library's note in meta_fallback either way, which says which.
func TestCheckNoteRebuiltFreeList(t *testing.T) {
	rebuilt := sampleDB(t)
	_, fl := rootOf(t, rebuilt)
	flipByte(t, rebuilt, int64(fl)*1024+40)
	older := fallbackDB(t)
	for _, tc := range []struct {
		name, path, note, json string
	}{
		{"rebuilt free list", rebuilt, "was opened from its newest state, with its free list rebuilt: free list unreadable (", "; rebuilt from the tree"},
		{"older meta page", older, "was opened from an older state: meta page 0 unusable (", "; opened txid "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, _ := runCLI(t, "check", tc.path)
			want := fmt.Sprintf("note: %s %s", tc.path, tc.note)
			if !strings.Contains(out, want) {
				t.Errorf("check: no line %q...:\n%s", want, out)
			}
			if tc.path == rebuilt && strings.Contains(out, "older state") {
				t.Errorf("check says \"older state\" of the newest one:\n%s", out)
			}
			_, out, _ = runCLI(t, "check", "--json", tc.path)
			var res checkJSON
			if err := json.Unmarshal([]byte(out), &res); err != nil || !strings.Contains(res.MetaFallback, tc.json) {
				t.Errorf("check --json: %v, meta_fallback %q; want it to say %q:\n%s", err, res.MetaFallback, tc.json, out)
			}
		})
	}
}
