package main

import (
	"encoding/json"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestCheckJSONDamagedCountsNull: check --json on a damaged database does
// not say it holds 0 keys in 0 buckets. The keys and buckets are counted
// only on a clean database (a count would meet the damage); on a damaged
// one they are null, and so are the pages and txid when no meta page could
// be read. (Both were 0, which reads as an empty database.)
func TestCheckJSONDamagedCountsNull(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage damages the database at path.
		damage func(t *testing.T, path string)
		// unknown are the fields that must be null; the rest of pages,
		// txid, keys and buckets must be numbers.
		unknown []string
		// clean: the counts are the sample's.
		clean bool
	}{
		{"clean", func(t *testing.T, path string) {}, nil, true},
		{"leaf checksum", func(t *testing.T, path string) {
			leaf := findPage(t, path, page.FlagLeaf)
			flipByte(t, path, int64(leaf)*1024+600)
		}, []string{"keys", "buckets"}, false},
		{"refused at open", func(t *testing.T, path string) {
			root, _ := rootOf(t, path)
			flipByte(t, path, int64(root)*1024+40)
		}, []string{"keys", "buckets"}, false},
		{"no meta page", func(t *testing.T, path string) {
			flipByte(t, path, 40)
			flipByte(t, path, 1024+40) // 1 KiB pages
		}, []string{"keys", "buckets", "pages", "txid"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sampleDB(t)
			tc.damage(t, path)
			code, out, stderr := runCLI(t, "check", "--json", path)
			want := exitFail
			if tc.clean {
				want = exitOK
			}
			if code != want {
				t.Fatalf("exit %d, want %d:\n%s%s", code, want, out, stderr)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v in %s%s", err, out, stderr)
			}
			isUnknown := map[string]bool{}
			for _, f := range tc.unknown {
				isUnknown[f] = true
			}
			for _, f := range []string{"pages", "txid", "keys", "buckets"} {
				v, ok := res[f]
				switch {
				case !ok:
					t.Errorf("%s: missing in %s", f, out)
				case isUnknown[f] && v != nil:
					t.Errorf("%s: %v, want null (not counted) in %s", f, v, out)
				case !isUnknown[f]:
					if _, num := v.(float64); !num {
						t.Errorf("%s: %v, want a number in %s", f, v, out)
					}
				}
			}
			if tc.clean && (res["keys"] != float64(303) || res["buckets"] != float64(7)) {
				t.Errorf("clean: keys %v buckets %v, want 303 and 7", res["keys"], res["buckets"])
			}
		})
	}
}
