package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestStatsKeysAreOwn: a bucket's KEYS are its own keys holding values,
// what "folio keys DB PATH" lists, not its nested buckets' too; BUCKETS
// are what "folio buckets DB PATH" lists, every bucket below it. Before,
// a parent's KEYS counted its nested buckets' keys (p showed 208 where
// keys lists 5). --json keeps the count with the nested buckets' keys as
// keys_with_nested, the scope of the page columns.
func TestStatsKeysAreOwn(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		p, err := tx.CreateBucket([]byte("p"))
		if err != nil {
			return err
		}
		q, err := p.CreateBucket([]byte("q"))
		if err != nil {
			return err
		}
		r, err := q.CreateBucket([]byte("r"))
		if err != nil {
			return err
		}
		for i := range 200 { // q gets pages of its own
			if err := q.Put(fmt.Appendf(nil, "q%03d", i), []byte("value")); err != nil {
				return err
			}
		}
		for i := range 5 {
			if err := p.Put(fmt.Appendf(nil, "p%d", i), []byte("v")); err != nil {
				return err
			}
		}
		for i := range 3 {
			if err := r.Put(fmt.Appendf(nil, "r%d", i), []byte("v")); err != nil {
				return err
			}
		}
		_, err = tx.CreateBucket([]byte("empty"))
		return err
	})
	code, out, stderr := runCLI(t, "stats", "--json", path)
	if code != exitOK {
		t.Fatalf("stats --json: exit %d: %s", code, stderr)
	}
	var st statsJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	want := map[string][3]int{ // keys, keys_with_nested, nested_buckets
		"p": {5, 208, 2}, "p/q": {200, 203, 1}, "p/q/r": {3, 3, 0}, "empty": {0, 0, 0},
	}
	if len(st.Buckets) != len(want) {
		t.Fatalf("rows %+v", st.Buckets)
	}
	sum := 0
	for _, r := range st.Buckets {
		w := want[r.Path]
		lines := func(args ...string) int {
			_, out, _ := runCLI(t, args...)
			return strings.Count(out, "\n")
		}
		keys, buckets := lines("keys", "--format", "hex", path, r.Path), lines("buckets", path, r.Path)
		if r.Keys != w[0] || r.KeysWithNested != w[1] || r.Buckets != w[2] || r.Keys != keys || r.Buckets != buckets {
			t.Errorf("%s: keys %d, keys_with_nested %d, nested_buckets %d; want %v (folio keys lists %d, folio buckets %d)",
				r.Path, r.Keys, r.KeysWithNested, r.Buckets, w, keys, buckets)
		}
		sum += r.Keys
	}
	if tot := st.Total; tot == nil || tot.Keys != sum || tot.KeysWithNested != sum || tot.Buckets != 4 {
		t.Errorf("total %+v, want keys %d (the rows' sum), 4 buckets", tot, sum)
	}
	code, out, stderr = runCLI(t, "stats", path)
	for _, re := range []string{`(?m)^p +5 +2 `, `(?m)^p/q +200 +1 `, `(?m)^p/q/r +3 +0 `, `(?m)^\(total\) +208 +4 `} {
		if code != exitOK || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stats: exit %d, output does not match %s:\n%s%s", code, re, out, stderr)
		}
	}
}
