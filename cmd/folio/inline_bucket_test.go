package main

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/foliodb/folio"
)

// TestInlineBuckets: pages, page, stats and check on a file whose small
// buckets are stored inline. pages lists no page for them and notes the
// leaf holding them, page shows each one's keys under its element, stats
// counts them (the INLINE column, inline_buckets and inline_bytes) and
// check passes.
func TestInlineBuckets(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		for _, name := range []string{"x", "y"} {
			b, err := a.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("key-"+name), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	})
	_, out, errOut := runCLI(t, "pages", path)
	if !regexp.MustCompile(`(?m)^\d+ +leaf .*bucket "?a"?, holding 2 inline buckets$`).MatchString(out) {
		t.Errorf("pages: no leaf of a holding 2 inline buckets:\n%s%s", out, errOut)
	}
	if regexp.MustCompile(`bucket "?a"?/`).MatchString(out) {
		t.Errorf("pages lists a page of an inline bucket:\n%s", out)
	}
	_, out, _ = runCLI(t, "page", path, "2", "3", "4")
	for _, want := range []string{
		`(?m)^  0: key "x" bucket: inline, 1 keys in \d+ bytes, sequence 0$`,
		`(?m)^      0: key "key-y" value 5 bytes: "value"$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("page: no line matching %s:\n%s", want, out)
		}
	}
	var st statsJSON
	if _, out, _ := runCLI(t, "stats", "--json", path); json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("stats: %s", out)
	}
	for _, r := range st.Buckets {
		want := 1
		if r.Path == "a" {
			want = 2 // as every row, with the buckets under it
		}
		if r.InlineBuckets != want || (want == 1 && (r.LeafPages != 0 || r.InlineBytes == 0 || r.Keys != 1)) {
			t.Errorf("stats: %+v", r)
		}
	}
	if st.Total == nil || st.Total.InlineBuckets != 2 {
		t.Errorf("stats total: %+v", st.Total)
	}
	if code, out, errOut := runCLI(t, "check", path); code != 0 {
		t.Errorf("check: %d\n%s%s", code, out, errOut)
	}
}
