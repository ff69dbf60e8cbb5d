package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestLongBucketNameErrors: an error naming a bucket path clips
// it, as the library and quoteKey clip keys and names. A bucket name may
// be MaxKeySize bytes (32 KiB), and a name one byte longer is what a user
// mistyping a path or loading a hostile dump gives: the tool echoed the
// whole path, once or twice (a 64 KiB line for "put --create" of a name
// over the limit), burying what went wrong.
func TestLongBucketNameErrors(t *testing.T) {
	long := strings.Repeat("b", folio.MaxKeySize)
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte(long))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte("small"))
		return err
	})
	dump := filepath.Join(t.TempDir(), "over.dump")
	if err := os.WriteFile(dump, []byte("VERSION=3\nformat=bytevalue\ndatabase="+long+"x\ntype=btree\nHEADER=END\n 6b\n 76\nDATA=END\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // a word of the error, besides the clipped name
	}{
		{[]string{"put", "--create", path, long + "x", "k", "v"}, "key too large"},
		{[]string{"put", "--create", path, "small/" + long + "x", "k", "v"}, "key too large"},
		{[]string{"get", path, long, "missing"}, "key not found"},
		{[]string{"get", path, long + "/nested", "k"}, "bucket not found"},
		{[]string{"get", path, long, ""}, "key not found"},
		{[]string{"put", path, long, "", "v"}, "key required"},
		{[]string{"put", path, long, "k/" + strings.Repeat("k", folio.MaxKeySize), "v"}, "key too large"},
		{[]string{"load", path, "-i", dump}, "key too large"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		what := tc.args[0] + " " + strings.Join(tc.args[1:len(tc.args)], " ")
		if len(what) > 80 {
			what = what[:80]
		}
		if code != exitFail {
			t.Errorf("%s: exit %d, want %d: %s", what, code, exitFail, stderr)
		}
		if len(stderr) > 600 {
			t.Errorf("%s: a %d-byte error: %.300s...", what, len(stderr), stderr)
		}
		if !strings.Contains(stderr, tc.want) || !bytes.Contains([]byte(stderr), []byte(" bytes)")) {
			t.Errorf("%s: %.600q does not say %q and how long the name is", what, stderr, tc.want)
		}
	}
}
