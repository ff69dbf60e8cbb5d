package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// churnedDB is the sample database after deleting most users in later
// transactions, so the free list holds free and pending extents.
func churnedDB(t *testing.T) string {
	t.Helper()
	path := sampleDB(t)
	db, err := folio.Open(path, 0o600, &folio.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < 300; lo += 100 {
		err := db.Update(func(tx *folio.Tx) error {
			b := tx.Bucket([]byte("users"))
			for i := lo; i < lo+80; i++ {
				if err := b.Delete(fmt.Appendf(nil, "user%03d", i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCheckDB(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// spaces matches the padding between columns.
var spaces = regexp.MustCompile(` {2,}`)

func TestPages(t *testing.T) {
	sample := sampleDB(t)
	withTail(t, sample, 4)
	churned := churnedDB(t)
	for _, tc := range []struct {
		name string
		path string
		want []string
	}{
		{"sample", sample, []string{
			"ID ", "KIND", "CHECKSUM",
			"0 meta 0 ok 2 current meta",
			"1 meta 0 ok 1 older meta",
			"large 2 ok 2 bucket \"blobs\" key \"big\" (3000 bytes)",
			"ok 2 bucket \"users\", holding 1 inline bucket", // users/admins
			"branch 0 ok 2 bucket \"users\"",
			"bucket directory, holding 1 inline bucket", // we/ird
			"freelist 0 ok 2 free list",
			"unallocated - - - ", "past the high water mark",
		}},
		{"churned", churned, []string{" free - - - "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, "pages", tc.path)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			out = spaces.ReplaceAllString(out, " ")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "unreachable") || strings.Contains(out, "bad") {
				t.Errorf("a clean database has unreachable or bad pages:\n%s", out)
			}
		})
	}
}

// TestPagesNoFreelistSync: without a persisted free list, the pages not
// reachable are free (open rebuilds the list from them).
func TestPagesNoFreelistSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nofl.db")
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, NoSync: true, NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []func(*folio.Tx) error{
		fillSample,
		func(tx *folio.Tx) error { return tx.DeleteBucket([]byte("users")) },
	} {
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^\d+-\d+ +free +- +- +- +\d+ pages \(free list not persisted`).MatchString(out) || regexp.MustCompile(`(?m)^\S+ +unreachable`).MatchString(out) {
		t.Errorf("free pages not shown as free:\n%s", out)
	}
	if code, out, _ := runCLI(t, "stats", path); code != exitOK || !strings.Contains(out, "free list not persisted, extents unknown") {
		t.Errorf("stats: exit %d:\n%s", code, out)
	}
}

// TestPagesAccounting: the pages the walk reaches, the free list's
// extents and the two meta pages cover [0, high) exactly once each, and
// agree with Info's counts.
func TestPagesAccounting(t *testing.T) {
	for _, path := range []string{sampleDB(t), churnedDB(t)} {
		db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		pf, err := openPageFile(db, path)
		if err != nil {
			t.Fatal(err)
		}
		m := walkPages(pf)
		seen := make([]int, m.meta.High)
		seen[0], seen[1] = 1, 1
		for id, u := range m.runs {
			if u.problem != "" || u.checksum != "ok" {
				t.Errorf("page %d: %s %s", id, u.checksum, u.problem)
			}
			for i := range u.pages {
				seen[int(id)+i]++
			}
		}
		var free uint64
		for _, e := range m.free {
			free += e.Len
			for i := range e.Len {
				seen[uint64(e.Start)+i]++
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("page %d counted %d times", id, n)
			}
		}
		if in := pf.info; free != uint64(in.FreePages+in.PendingPages) {
			t.Errorf("free list extents hold %d pages, Info says %d free + %d pending", free, in.FreePages, in.PendingPages)
		}
		pf.Close()
		db.Close()
	}
}

func TestPagesCorrupt(t *testing.T) {
	path := sampleDB(t)
	leaf := findPage(t, path, page.FlagLeaf)
	flipByte(t, path, int64(leaf)*1024+600)
	branch := findPage(t, path, page.FlagBranch)
	// The branch's overflow field claims a run far past the file's end.
	flipByte(t, path, int64(branch)*1024+27)
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitFail {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, re := range []string{
		fmt.Sprintf(`(?m)^%d +leaf +0 +bad: stored 0x[0-9a-f]+, computed`, leaf),
		fmt.Sprintf(`(?m)^%d +branch +0 +unknown .*overflow`, branch),
		`unreachable .* \(leaked, or referenced only from a damaged page\)`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
}

// TestPagesGarbage walks and decodes files whose tree pages were
// overwritten with random bytes (checksums made to match, so the
// decoders see the garbage): nothing may panic or hang.
func TestPagesGarbage(t *testing.T) {
	sample := sampleDB(t)
	orig, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	// Only the used pages: the preallocated tail would make each round
	// write megabytes of zeros.
	var in infoJSON
	if _, out, _ := runCLI(t, "info", "--json", sample); json.Unmarshal([]byte(out), &in) != nil {
		t.Fatalf("info: %s", out)
	}
	high := int(in.HighPage)
	orig = orig[:high*1024]
	rng := rand.New(rand.NewPCG(1, 2))
	path := t.TempDir() + "/garbage.db"
	for iter := range 300 {
		b := append([]byte(nil), orig...)
		id := 2 + rng.IntN(high-2)
		p := b[id*1024 : (id+1)*1024]
		for range 1 + rng.IntN(40) {
			p[rng.IntN(len(p))] = byte(rng.Uint32())
		}
		if iter%2 == 0 {
			page.Seal(p) // a self-consistent but wrong page
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
		if err != nil {
			continue // the root itself is bad: open says so
		}
		pf, err := openPageFile(db, path)
		if err != nil {
			t.Fatal(err)
		}
		m := walkPages(pf)
		var sb strings.Builder
		if _, err := printPages(&sb, pf, m); err != nil {
			t.Fatal(err)
		}
		for pid := range page.ID(high) {
			printPage(&sb, pf, pid)
		}
		pf.Close()
		db.Close()
	}
}

// TestPagesRefusedFile: with its root page damaged, the library refuses
// the file; pages, page and check still read it. A damaged free list is
// different: the library rebuilds it, and check still reports it.
func TestPagesRefusedFile(t *testing.T) {
	path := sampleDB(t)
	root, fl := rootOf(t, path)
	flipByte(t, path, int64(fl)*1024+40)
	if code, _, stderr := runCLI(t, "info", path); code != exitOK {
		t.Fatalf("info with a damaged free list: exit %d, %s; want it rebuilt", code, stderr)
	}
	code, out, _ := runCLI(t, "check", path)
	if code != exitFail || !strings.HasPrefix(out, fmt.Sprintf("page %d: ", fl)) || !strings.Contains(out, " found at txid") {
		t.Errorf("check: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "check", "--json", path)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); code != exitFail || err != nil || res.OK || *res.Problems[0].Page != fl {
		t.Errorf("check --json: exit %d, %v:\n%s", code, err, out)
	}

	flipByte(t, path, int64(root)*1024+40)
	before := fileSum(t, path)
	if code, _, stderr := runCLI(t, "info", path); code != exitFail || !strings.Contains(stderr, fmt.Sprintf("corrupt page %d", root)) {
		t.Fatalf("info: exit %d, %s; want the library to refuse the file", code, stderr)
	}
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitFail || !strings.Contains(stderr, "warning: the library refuses") {
		t.Fatalf("pages: exit %d, %s", code, stderr)
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d +freelist +0 +bad: stored`, fl)).MatchString(out) {
		t.Errorf("pages:\n%s", out)
	}
	code, out, _ = runCLI(t, "page", path, fmt.Sprint(root))
	if code != exitFail || !strings.Contains(out, "checksum: bad") {
		t.Errorf("page: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "check", path)
	if code != exitFail || !strings.Contains(out, fmt.Sprintf("page %d: ", root)) || !strings.Contains(out, " found at txid") {
		t.Errorf("check: exit %d:\n%s", code, out)
	}
	if fileSum(t, path) != before {
		t.Errorf("the file changed")
	}
}

// TestPagesMetaPageSizes: a file whose meta pages disagree on the page
// size, or whose meta page 1 lies where its own size would not put it,
// is refused by pages, page and check, as the library refuses it,
// naming both sizes: neither reading says where the pages are. (The
// library refusing it, pages read the metas itself and followed the one
// with the higher txid at the size it said.)
func TestPagesMetaPageSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// at is where meta page 1 is written (page size 4096 in it);
		// slot0 breaks meta page 0 first.
		at    int
		slot0 bool
		want  string
	}{
		{"disagree", 1024, false, "the meta pages disagree on the page size (meta page 0: 1024, meta page 1: 4096)"},
		{"misplaced", 2048, true, "meta page 1, found at offset 2048 (page size 2048), says page size 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sampleDB(t)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := page.DecodeMeta(b[:1024], 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.slot0 {
				b[page.HeaderSize] ^= 0xff // the magic
			}
			clear(b[1024:2048]) // the first meta page 1 at 1 KiB
			m.PageSize, m.TxID = 4096, m.TxID+10
			page.EncodeMeta(b[tc.at:tc.at+4096], 1, &m)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"pages", path}, {"page", path, "0"}} {
				code, out, stderr := runCLI(t, args...)
				if code != exitFail || !strings.Contains(stderr, tc.want) || strings.Count(stderr, tc.want) != 1 || strings.Contains(stderr, "warning") || out != "" {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", args[0], code, out, stderr, exitFail, tc.want)
				}
			}
			code, out, _ := runCLI(t, "check", path)
			if code != exitFail || !regexp.MustCompile(`(?m)^page -: reading the meta pages: .*`+regexp.QuoteMeta(tc.want)).MatchString(out) {
				t.Errorf("check: exit %d:\n%s", code, out)
			}
		})
	}
}

// TestPagesOlderMetaTail: after a delete, the next commit lowers the high
// water mark, but the file keeps the pages the older meta reaches (Open
// may fall back to it); pages labels them so, not as growth.
func TestPagesOlderMetaTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shrunk.db")
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []func(*folio.Tx) error{
		func(tx *folio.Tx) error {
			b, err := tx.CreateBucket([]byte("big"))
			if err != nil {
				return err
			}
			for i := range 64 {
				if err := b.Put(fmt.Appendf(nil, "k%03d", i), make([]byte, 3000)); err != nil {
					return err
				}
			}
			return nil
		},
		func(tx *folio.Tx) error { return tx.DeleteBucket([]byte("big")) },
		func(tx *folio.Tx) error {
			b, err := tx.CreateBucket([]byte("small"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		},
		// The delete's pages are free from here on: this commit's
		// begin drops them from the tail.
		func(tx *folio.Tx) error { return tx.Bucket([]byte("small")).Put([]byte("k"), []byte("w")) },
	} {
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	older := regexp.MustCompile(`(?m)^\d+-\d+ +unallocated +- +- +- +(\d+) pages past the high water mark and below the older meta's \((\d+)\)`).FindStringSubmatch(out)
	if older == nil {
		t.Fatalf("no line for the pages the older meta reaches:\n%s", out)
	}
	if n, _ := strconv.Atoi(older[1]); n < 150 {
		t.Errorf("%s pages below the older meta's mark; the deleted bucket held ~190", older[1])
	}
	if strings.Contains(out, "unreachable") || strings.Contains(out, "bad") {
		t.Errorf("unreachable or bad pages:\n%s", out)
	}
}

// TestPagesFileCutShort: of a file cut short (its tail lost, as a copy
// interrupted leaves it), pages lists what the file holds and then every
// reachable page past its end, naming whose it is and that the file
// ends before it. It listed the pages the file holds only, so the pages
// the trees reach beyond the end, the root among them, went unmentioned:
// a file cut after its meta pages listed as two healthy meta pages.
// check named such a page "page id (expected < 2 (the file's pages),
// found 27)", after a second "folio: corrupt page 27: ".
func TestPagesFileCutShort(t *testing.T) {
	path := sampleDB(t)
	root, _ := rootOf(t, path)
	for _, keep := range []int64{2, int64(root)} {
		if err := os.Truncate(path, keep*1024); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCLI(t, "pages", path)
		if code != exitFail {
			t.Fatalf("cut to %d pages: exit %d: %s", keep, code, stderr)
		}
		want := fmt.Sprintf(`(?m)^- +problem +- +- +- +page %d \(bucket directory\): beyond the end of the file, which holds %d whole pages \(cut short\?\)$`, root, keep)
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("cut to %d pages: no line for the root, page %d, past the end (%s):\n%s", keep, root, want, out)
		}
		if !strings.Contains(out, fmt.Sprintf("the file holds %d whole pages of the ", keep)) {
			t.Errorf("cut to %d pages: the listing does not say where the file ends:\n%s", keep, out)
		}
		// check walks a refused file with the same code, and names the
		// root the same way, once.
		code, out, _ = runCLI(t, "check", path)
		line := fmt.Sprintf("\npage %d: unknown page (bucket directory): checksum unread; beyond the end of the file, which holds %d whole pages (cut short?)\n", root, keep)
		if code != exitFail || !strings.Contains("\n"+out, line) {
			t.Errorf("cut to %d pages: check: exit %d, want %d and the line %q:\n%s", keep, code, exitFail, line[1:], out)
		}
	}
}

// TestPagesNotesWithoutLibraryPrefix: a note in the pages listing says
// what is wrong with the page without the library's "folio: " in the
// middle of the table: a damaged meta page's line read "older meta:
// folio: corrupt page 1: meta checksum (...)", and a run whose overflow
// leaves the file "bucket users: folio: corrupt page N: overflow (...)";
// folio page said "error: folio: corrupt page 1: ...".
func TestPagesNotesWithoutLibraryPrefix(t *testing.T) {
	path := sampleDB(t)
	branch := findPage(t, path, page.FlagBranch)
	flipByte(t, path, int64(branch)*1024+27) // its overflow: past the end
	flipByte(t, path, 1024+100)              // the older meta page's body
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitFail {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"older meta: corrupt page 1: meta checksum (expected ",
		fmt.Sprintf(`bucket "users": corrupt page %d: overflow (expected `, branch),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the listing lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "folio: ") {
		t.Errorf("the listing says \"folio: \":\n%s", out)
	}
	// page shows the same errors: "error: folio: corrupt page 1: ...".
	code, out, stderr = runCLI(t, "page", path, "1", fmt.Sprint(branch))
	if code != exitFail || !strings.Contains(out, "  error: corrupt page 1: meta checksum") || strings.Contains(out, "folio: ") {
		t.Errorf("page: exit %d, %s:\n%s", code, stderr, out)
	}
}

// TestMetaSizeErrorSaysFolioOnce: a file whose meta page 0 fails its
// checksum and whose meta page 1 lies where its page size would not put
// it is refused quoting meta page 0's error without the library's
// "folio: ": info said "meta page 0 unusable (folio: corrupt page 0:
// meta checksum ...)", and check's line for its own reading of the
// meta pages the same.
func TestMetaSizeErrorSaysFolioOnce(t *testing.T) {
	path := sampleDB(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := page.DecodeMeta(b[:1024], 0)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1         // meta page 0's body: its checksum fails
	clear(b[1024:2048]) // the meta page 1 of 1 KiB pages
	m.PageSize, m.TxID = 4096, m.TxID+10
	page.EncodeMeta(b[2048:2048+4096], 1, &m)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	want := "meta page 0 unusable (corrupt page 0: meta checksum"
	for _, args := range [][]string{{"info", path}, {"pages", path}} {
		code, _, stderr := runCLI(t, args...)
		if line := oneLine(t, args, stderr); code != exitFail || !strings.Contains(line, want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", args, code, line, exitFail, want)
		}
	}
	code, out, _ := runCLI(t, "check", path)
	if code != exitFail || !strings.Contains(out, want) || strings.Contains(out, "folio: ") {
		t.Errorf("check: exit %d, want %d, %q and no \"folio: \":\n%s", code, exitFail, want, out)
	}
}

// TestPagesBucketNamesQuoted: a note names a bucket quoted, as errors
// do, so a bucket called "directory" reads apart from the bucket
// directory and "a b key" from a bucket "a" (both were bare).
func TestPagesBucketNamesQuoted(t *testing.T) {
	big := strings.Repeat("x", 1500) // a large value: the bucket gets pages
	path := makeDB(t, func(tx *folio.Tx) error {
		for _, name := range []string{"directory", "a b", "x\ny"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for _, k := range []string{"k1", "k2", "k3"} {
				if err := b.Put([]byte(k), []byte(big)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out = spaces.ReplaceAllString(out, " ")
	for _, w := range []string{
		`leaf 0 ok 2 bucket "directory"` + "\n",
		`ok 2 bucket "directory" key "k1" (1500 bytes)`,
		`leaf 0 ok 2 bucket "a b"` + "\n",
		`leaf 0 ok 2 bucket "x\\x0ay"` + "\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// The directory itself stays unquoted: it has no name.
	if n := strings.Count(out, " bucket directory\n"); n != 1 {
		t.Errorf("%d lines note the bucket directory, want 1:\n%s", n, out)
	}
}
