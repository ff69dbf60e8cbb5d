package main

import (
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestBucketNamesQuotedInErrors: every error naming a bucket quotes its
// path, as load, dump, compact and a missing bucket's refusal did and the
// library does: get, put, delete and keys named it bare (`bucket x: key
// not found`), so one command said `bucket "x"` and the next `bucket x`,
// and a name holding a space or a colon ran into the message.
func TestBucketNamesQuotedInErrors(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		x, err := tx.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		if _, err := x.CreateBucket([]byte("y")); err != nil {
			return err
		}
		if err := x.Put([]byte("a\nb"), []byte("v")); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte("a b: c"))
		return err
	})
	long := strings.Repeat("k", folio.MaxKeySize+1)
	for _, tc := range []struct {
		args []string
		want string // the message after "folio: DB: " (dump: "folio: dump DB: ")
	}{
		{[]string{"get", path, "x", "k"}, `bucket "x": key not found: "k"`},
		{[]string{"get", path, "a b: c", "k"}, `bucket "a b: c": key not found: "k"`},
		{[]string{"delete", path, "x", "k"}, `bucket "x": key not found: "k"`},
		{[]string{"get", path, "x", "y"}, `key "y" in bucket "x" holds a nested bucket, not a value: incompatible value`},
		{[]string{"put", path, "x", "y", "v"}, `key "y" in bucket "x" holds a nested bucket, not a value: incompatible value`},
		{[]string{"put", path, "x", "", "v"}, `bucket "x": key required (the key given is empty)`},
		{[]string{"put", path, "x", long, "v"}, `bucket "x": key too large: "` + long[:64] + `"... (32769 bytes); at most 32768 bytes`},
		{[]string{"keys", path, "x"}, `bucket "x": key "a\nb" holds a newline, which raw format cannot print one per line: use --format hex or base64`},
		// As they were: a missing bucket, and load's, dump's own words.
		{[]string{"get", path, "nope", "k"}, `bucket "nope": bucket not found`},
		{[]string{"dump", path, "--bucket", "nope"}, `bucket "nope": bucket not found`},
	} {
		want := "folio: " + path + ": " + tc.want + "\n"
		if tc.args[0] == "dump" {
			want = "folio: dump " + path + ": " + tc.want + "\n"
		}
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitFail || stderr != want {
			t.Errorf("%.80q: exit %d, %q; want %d, %q", tc.args[2:], code, stderr, exitFail, want)
		}
	}
}
