package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// rootOf returns the root page of the bucket directory and the free list
// page, from info.
func rootOf(t *testing.T, path string) (root, freelist uint64) {
	t.Helper()
	db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(in.Root), uint64(in.Freelist)
}

// withTail lengthens a closed database file by n pages of 1 KiB past its
// high water mark, as a crash before Close gives the grown tail back
// leaves it.
func withTail(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()+n*1024); err != nil {
		t.Fatal(err)
	}
}

func TestPage(t *testing.T) {
	path := sampleDB(t)
	withTail(t, path, 4)
	root, fl := rootOf(t, path)
	branch := findPage(t, path, page.FlagBranch)
	var in infoJSON
	if _, out, _ := runCLI(t, "info", "--json", path); json.Unmarshal([]byte(out), &in) != nil {
		t.Fatalf("info: %s", out)
	}
	lastPage := in.FilePages - 1
	if uint64(lastPage) < in.HighPage {
		t.Fatalf("no preallocated page past the high water mark to test with: %+v", in)
	}
	large := findPage(t, path, page.FlagLarge)
	corrupt := churnedDB(t)
	leaf := findPage(t, corrupt, page.FlagLeaf)
	flipByte(t, corrupt, int64(leaf)*1024+700)
	for _, tc := range []struct {
		name string
		args []string
		want []string // regular expressions
	}{
		{"meta", []string{"page", path, "0", "1"}, []string{
			`(?m)^page 0\n  header: kind meta \(0x0001\), count 0, txid 2, overflow 0\n  checksum: ok`,
			fmt.Sprintf(`meta: format version %d, page size 1024, txid 2, high water \d+ pages`, page.Version),
			fmt.Sprintf(`bucket directory root: page %d \(checksum 0x[0-9a-f]{8}\)`, root),
			fmt.Sprintf(`free list: page %d`, fl),
			`(?m)^page 1\n.*txid 1`, `bucket directory root: none`,
		}},
		{"directory", []string{"page", path, fmt.Sprint(root)}, []string{
			`kind leaf`, `0: key "a" bucket: root page \d+ \(checksum 0x[0-9a-f]{8}\), sequence 0`,
			`3: key "we/ird" bucket: inline, 1 keys in \d+ bytes, sequence 0\n      0: key "\\x00\\xff" value 1 bytes: `,
		}},
		{"branch", []string{"page", path, fmt.Sprint(branch)}, []string{
			`kind branch \(0x0002\)`, `0: key "[a-z0-9]*" -> child \d+ \(checksum 0x[0-9a-f]{8}\)`,
		}},
		{"large", []string{"page", path, fmt.Sprint(large)}, []string{
			`kind large`, `overflow 2`, `large value run of 3 pages`, `starts: "xxxx`,
		}},
		{"freelist", []string{"page", path, fmt.Sprint(fl)}, []string{`kind freelist`, `\d+ free extents, \d+ pages`}},
		{"unwritten", []string{"page", path, fmt.Sprint(lastPage)}, []string{`all zero: never written`}},
		{"corrupt leaf", []string{"page", corrupt, fmt.Sprint(leaf)}, []string{
			`checksum: bad \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			want := exitOK
			if tc.name == "corrupt leaf" {
				want = exitFail // still shown (TestPageExitStatus)
			}
			if code != want {
				t.Fatalf("exit %d, want %d: %s", code, want, stderr)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output does not match %s:\n%s", w, out)
				}
			}
		})
	}
}

// TestPageLeafValues finds the users bucket's leaf holding user042 and
// checks the element line.
// TestPageMetaFormatVersion: page shows each meta page's own format
// version, as a file a version 1 folio wrote keeps version 1 meta pages
// until a meta write upgrades them: here meta page 1 is version 1 and
// meta page 0, the newest, version 2. Page showed no version at all.
func TestPageMetaFormatVersion(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	})
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := img[1024:2048]
	m, err := page.DecodeMeta(p, 1)
	if err != nil || m.FreeDelta != "" || m.TxID != 1 {
		t.Fatalf("meta page 1: %v (txid %d, delta %q)", err, m.TxID, m.FreeDelta)
	}
	page.EncodeMetaCommit(p, 1, &m, page.MetaCommitRuns(p, nil))
	binary.LittleEndian.PutUint32(p[page.HeaderSize+4:], 1)
	page.Seal(p)
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "page", path, "0", "1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, re := range []string{
		fmt.Sprintf(`(?m)^page 0\n(  .*\n)*  meta: format version %d, page size 1024, txid 2,`, page.Version),
		`(?m)^page 1\n(  .*\n)*  meta: format version 1, page size 1024, txid 1,`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
}

func TestPageLeafValues(t *testing.T) {
	path := sampleDB(t)
	_, out, _ := runCLI(t, "pages", path)
	var leaves []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "leaf" && (strings.HasSuffix(line, `bucket "users"`) || strings.Contains(line, `bucket "users", holding`)) {
			leaves = append(leaves, f[0])
		}
	}
	_, out, _ = runCLI(t, append([]string{"page", path}, leaves...)...)
	if !regexp.MustCompile(`\d+: key "user042" value 16 bytes: "value of user 42"`).MatchString(out) {
		t.Errorf("user042 not found in the users leaves %v:\n%s", leaves, out)
	}
	if !regexp.MustCompile(`key "admins" bucket: inline, 1 keys in \d+ bytes, sequence 1\n      0: key "root" value 3 bytes: "yes"`).MatchString(out) {
		t.Errorf("users/admins bucket header not shown")
	}
}

func TestPageBadElements(t *testing.T) {
	path := sampleDB(t)
	leaf := findPage(t, path, page.FlagLeaf)
	// An element count far past what the page holds.
	flipByte(t, path, int64(leaf)*1024+7)
	code, out, stderr := runCLI(t, "page", path, fmt.Sprint(leaf))
	if code != exitFail { // shown, and damaged (TestPageExitStatus)
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "checksum: bad") || !strings.Contains(out, "error: corrupt page") || !strings.Contains(out, "element count") {
		t.Errorf("no decode error shown:\n%s", out)
	}
}
