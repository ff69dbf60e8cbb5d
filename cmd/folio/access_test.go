package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

func TestBuckets(t *testing.T) {
	path := sampleDB(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"buckets", path}, exitOK, "a\na/b\na/b/c\nblobs\nusers\nusers/admins\nwe\\/ird\n"},
		{[]string{"buckets", path, "a"}, exitOK, "a/b\na/b/c\n"},
		{[]string{"buckets", path, "a/b/c"}, exitOK, ""},
		{[]string{"buckets", path, "nope"}, exitFail, ""},
		{[]string{"buckets", makeDB(t, nil)}, exitOK, ""},
	} {
		code, out, stderr := runCLI(t, tc.args...)
		if code != tc.code || out != tc.want {
			t.Errorf("%v: exit %d, output %q (%s); want %d, %q", tc.args[1:], code, out, stderr, tc.code, tc.want)
		}
	}
}

func TestKeys(t *testing.T) {
	path := sampleDB(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // the output, or with exitFail a part of stderr
	}{
		{"limit", []string{"keys", path, "users", "--limit", "3"}, exitOK, "user000\nuser001\nuser002\n"},
		{"prefix", []string{"keys", path, "users", "--prefix", "user29"}, exitOK,
			"user290\nuser291\nuser292\nuser293\nuser294\nuser295\nuser296\nuser297\nuser298\nuser299\n"},
		{"prefix and limit", []string{"keys", path, "users", "--prefix", "user1", "--limit", "1"}, exitOK, "user100\n"},
		{"no match", []string{"keys", path, "users", "--prefix", "zzz"}, exitOK, ""},
		{"nested bucket names left out", []string{"keys", path, "users", "--prefix", "ad"}, exitOK, ""},
		{"hex", []string{"keys", path, `we\/ird`, "--format", "hex"}, exitOK, "00ff\n"},
		{"base64", []string{"keys", path, `we\/ird`, "--format", "base64"}, exitOK, "AP8=\n"},
		{"hex prefix", []string{"keys", path, "users", "--format", "hex", "--prefix", "7573657230303", "--limit", "1"}, exitUsage, ""},
		{"hex prefix ok", []string{"keys", path, "users", "--format", "hex", "--prefix", "75736572303030"}, exitOK, "75736572303030\n"},
		{"nested", []string{"keys", path, "users/admins"}, exitOK, "root\n"},
		{"missing bucket", []string{"keys", path, "users/nope"}, exitFail, `bucket "users/nope"`},
		{"value not bucket", []string{"keys", path, "users/user001"}, exitFail, "not a bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.code == exitOK && out != tc.want {
				t.Errorf("output %q, want %q", out, tc.want)
			}
			if tc.code == exitFail && !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	path := sampleDB(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"raw", []string{"get", path, "users", "user042"}, exitOK, "value of user 42"},
		{"nested", []string{"get", path, "users/admins", "root"}, exitOK, "yes"},
		{"hex", []string{"get", "--format", "hex", path, `we\/ird`, "00ff"}, exitOK, "01\n"},
		{"base64", []string{"get", "--format", "base64", path, `we\/ird`, "AP8="}, exitOK, "AQ==\n"},
		{"escaped path", []string{"get", path, `we\x2fird`, "\x00\xff"}, exitOK, "\x01"},
		{"large", []string{"get", path, "blobs", "big"}, exitOK, strings.Repeat("x", 3000)},
		{"missing key", []string{"get", path, "users", "nobody"}, exitFail, `key not found: "nobody"`},
		{"bucket key", []string{"get", path, "users", "admins"}, exitFail, "holds a nested bucket"},
		{"missing bucket", []string{"get", path, "nope", "k"}, exitFail, `bucket "nope": bucket not found`},
		{"bad hex", []string{"get", "--format", "hex", path, "users", "xyz"}, exitUsage, "is not hex"},
		{"bad path", []string{"get", path, "a//b", "k"}, exitUsage, "empty bucket name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.code == exitOK && out != tc.want {
				t.Errorf("output %q, want %q", out, tc.want)
			}
			if tc.code != exitOK && !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
		})
	}
}

// TestPutDelete changes a database step by step and reads the result
// back through the library.
func TestPutDelete(t *testing.T) {
	path := sampleDB(t)
	steps := []struct {
		stdin string
		args  []string
		code  int
	}{
		{"", []string{"put", path, "users", "alice", "hello"}, exitOK},
		{"", []string{"put", path, "users", "user001", "changed"}, exitOK},
		{"", []string{"put", path, "new/deep", "k", "v"}, exitFail}, // no --create
		{"", []string{"put", "--create", path, "new/deep", "k", "v"}, exitOK},
		{"", []string{"put", "--create", path, "users/user002/x", "k", "v"}, exitFail}, // a value on the path
		{"", []string{"put", path, "users", "admins", "v"}, exitFail},                  // a bucket
		{"", []string{"put", "--format", "hex", path, `we\/ird`, "0102", "ff00"}, exitOK},
		{"from\nstdin\x00", []string{"put", path, "users", "stdin"}, exitOK},
		{" AQID\n", []string{"put", "--format", "base64", path, "users", "c3RkaW42NA=="}, exitOK},
		{"", []string{"put", path, "users", "", "v"}, exitFail}, // empty key
		{"", []string{"put", "--format", "base64", path, "users", "k", "!!"}, exitUsage},
		{"", []string{"delete", path, "users", "user003"}, exitOK},
		{"", []string{"delete", path, "users", "user003"}, exitFail},
		{"", []string{"delete", "--missing-ok", path, "users", "user003"}, exitOK},
		{"", []string{"delete", path, "users", "admins"}, exitFail},
		{"", []string{"delete", path, "nope", "k"}, exitFail},
		{"", []string{"delete", "--format", "hex", path, `we\/ird`, "00ff"}, exitOK},
	}
	for _, s := range steps {
		code, _, stderr := runCLIIn(t, s.stdin, s.args...)
		if code != s.code {
			t.Fatalf("%q: exit %d, want %d: %s", s.args, code, s.code, stderr)
		}
	}
	db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCheckDB(t, db)
	err = db.View(func(tx *folio.Tx) error {
		users := tx.Bucket([]byte("users"))
		for k, want := range map[string]string{
			"alice": "hello", "user001": "changed", "stdin": "from\nstdin\x00", "stdin64": "\x01\x02\x03", "user004": "value of user 4",
		} {
			if got := users.Get([]byte(k)); string(got) != want {
				t.Errorf("users/%s = %q, want %q", k, got, want)
			}
		}
		if users.Get([]byte("user003")) != nil || users.Get([]byte("")) != nil {
			t.Errorf("deleted key user003 (or an empty key) is there")
		}
		if users.Bucket([]byte("admins")) == nil {
			t.Errorf("users/admins is gone")
		}
		if got := tx.Bucket([]byte("new")).Bucket([]byte("deep")).Get([]byte("k")); string(got) != "v" {
			t.Errorf("new/deep k = %q", got)
		}
		weird := tx.Bucket([]byte("we/ird"))
		if got := weird.Get([]byte{1, 2}); !bytes.Equal(got, []byte{0xff, 0}) {
			t.Errorf("we/ird 0102 = %x", got)
		}
		if weird.Get([]byte{0, 0xff}) != nil {
			t.Errorf("we/ird 00ff not deleted")
		}
		if tx.Bucket([]byte("nope")) != nil {
			t.Errorf("delete created a bucket")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteMissingLeavesFile: a delete that finds nothing to delete
// commits nothing.
func TestDeleteMissingLeavesFile(t *testing.T) {
	path := sampleDB(t)
	before := fileSum(t, path)
	if code, _, stderr := runCLI(t, "delete", "--missing-ok", path, "users", "nobody"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "delete", path, "users", "nobody"); code != exitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	if fileSum(t, path) != before {
		t.Errorf("the file changed")
	}
}

// TestAccessDamagedPage: every command verifies checksums as it reads, so
// get and keys fail on a damaged leaf, naming it, instead of printing its
// bytes, and put fails rather than copying the damaged page into a new
// commit under a fresh checksum (which would hide the damage from check).
func TestAccessDamagedPage(t *testing.T) {
	path := sampleDB(t)
	leaf := findLeafWithUsers(t, path)
	flipByte(t, path, int64(leaf)*1024+600)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A key whose bytes survive on the damaged page is stored there.
	key := regexp.MustCompile(`user\d{3}`).Find(raw[leaf*1024 : (leaf+1)*1024])
	if key == nil {
		t.Fatalf("no key on page %d", leaf)
	}
	want := fmt.Sprintf("page %d: checksum", leaf)
	for _, args := range [][]string{
		{"get", path, "users", string(key)},
		{"keys", path, "users"},
		{"put", path, "users", string(key), "new value"},
		{"delete", path, "users", string(key)},
	} {
		code, out, stderr := runCLI(t, args...)
		if code != exitFail || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %q", args[:1], code, stderr, exitFail, want)
		}
		if strings.Contains(out, "value of") {
			t.Errorf("%v: printed damaged data %q", args[:1], out)
		}
		// The library's error names the file already: once is enough
		// (and once more in the hint to run folio check).
		hint := `; run "folio check ` + path + `" to list all the damage` + "\n"
		if n := strings.Count(strings.TrimSuffix(stderr, hint), path); n != 1 || !strings.HasSuffix(stderr, hint) {
			t.Errorf("%v: the path named %d times: %s", args[:1], n, stderr)
		}
	}
	// The damage is still there for check to find.
	if code, out, stderr := runCLI(t, "check", path); code != exitFail || !strings.Contains(out, want) {
		t.Errorf("check after the writes: exit %d: %s%s", code, out, stderr)
	}
}

// TestLongKeyClipped: a key over the limit is quoted in the error clipped,
// with its length, not echoed whole.
func TestLongKeyClipped(t *testing.T) {
	path := sampleDB(t)
	key := strings.Repeat("k", folio.MaxKeySize+1)
	code, _, stderr := runCLI(t, "put", path, "users", key, "v")
	if code != exitFail || !strings.Contains(stderr, fmt.Sprintf(`"... (%d bytes)`, len(key))) || !strings.Contains(stderr, "key too large") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(stderr) > 300 {
		t.Errorf("a %d-byte message", len(stderr))
	}
	if got := quoteKey([]byte("short")); got != `"short"` {
		t.Errorf("quoteKey clips a short key: %s", got)
	}
}

// TestPutErrorsSayItOnce: a put the library refuses says what went wrong
// once, naming the bucket path and the key as get and delete do. put
// wrapped the library's message, which names them already in its own
// form: `put "y" in bucket x: incompatible value: "y" in "x"`, `put ""
// in bucket seq: key required in "seq"`.
func TestPutErrorsSayItOnce(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		x, err := tx.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		y, err := x.CreateBucket([]byte("y"))
		if err != nil {
			return err
		}
		return y.Put([]byte("k"), []byte("v"))
	})
	long := strings.Repeat("b", folio.MaxKeySize+1)
	clipped := `"` + long[:64] + `"...`
	for _, tc := range []struct {
		args []string
		want string // the message after "folio: DB: "
		same []string
	}{
		{[]string{"put", path, "x", "y", "v"},
			`key "y" in bucket "x" holds a nested bucket, not a value: incompatible value`,
			[]string{"get", path, "x", "y"}},
		{[]string{"put", "--create", path, "x/y/k/z", "k", "v"},
			`"x/y/k" is a key holding a value, not a bucket: incompatible value`,
			[]string{"get", path, "x/y/k/z", "k"}},
		{[]string{"put", "--create", path, "seq", "", "v"},
			`bucket "seq": key required (the key given is empty)`, nil},
		{[]string{"put", path, "x", long, "v"},
			fmt.Sprintf(`bucket "x": key too large: %s (%d bytes); at most %d bytes`, clipped, len(long), folio.MaxKeySize), nil},
		{[]string{"put", "--create", path, "x/" + long, "k", "v"},
			fmt.Sprintf(`create bucket "x/%s"... (%d bytes): key too large (a name holds at most %d bytes)`, long[:62], len(long)+2, folio.MaxKeySize), nil},
	} {
		want := "folio: " + path + ": " + tc.want + "\n"
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitFail || stderr != want {
			t.Errorf("%.80q: exit %d, %q; want %d, %q", tc.args, code, stderr, exitFail, want)
		}
		if tc.same != nil {
			if _, _, other := runCLI(t, tc.same...); other != want {
				t.Errorf("%q says %q, put %q", tc.same, other, stderr)
			}
		}
	}
	if code, out, stderr := runCLI(t, "check", path); code != exitOK {
		t.Errorf("check after the refused puts: exit %d: %s%s", code, out, stderr)
	}
}
