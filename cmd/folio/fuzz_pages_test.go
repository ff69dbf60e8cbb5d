package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// FuzzPages runs "folio pages" and "folio page" on a mutated database
// file: the commands that decode a damaged file's bytes themselves (with
// package page), where the library would stop at the first bad page.
// They must not panic or hang; they fail in one line (exit 1), or pages
// lists every page of the file exactly once, in order (exit 1 if it
// shows damage, saying how many problems last), and page shows each
// page asked for.
func FuzzPages(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := folio.Open(path, 0o600, &folio.Options{PageSize: 1024, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	db.AllocSize = 1024
	fill := func(tx *folio.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		for i := 0; err == nil && i < 40; i++ {
			err = b.Put(fmt.Appendf(nil, "key%02d", i), bytes.Repeat([]byte{byte(i)}, i*2))
		}
		if err != nil {
			return err
		}
		n, err := b.CreateBucketIfNotExists([]byte("nested"))
		if err == nil {
			err = n.Put([]byte("large"), bytes.Repeat([]byte("L"), 2500))
		}
		return err
	}
	if err := db.Update(fill); err != nil {
		f.Fatal(err)
	}
	if err := db.Update(func(tx *folio.Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("key07")) }); err != nil {
		f.Fatal(err)
	}
	if err := db.Close(); err != nil {
		f.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(img)
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 256<<10 {
			return
		}
		path := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(path, img, 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"pages", path}
		code, stdout, stderr := runCLI(t, args...)
		switch code {
		case exitFail:
			if stdout == "" {
				oneLine(t, args, stderr) // refused: nothing listed
				return
			}
			// A listing showing damage, or of a file the library
			// refuses: the last line on stderr says so.
			if !problemsFound.MatchString(stderr) && !strings.HasSuffix(stderr, "the library refuses it (see the warning above), though its pages show no problem\n") {
				t.Fatalf("%v: exit %d after a listing; stderr %q", args, code, stderr)
			}
		case exitOK:
		default:
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		// The listing tiles [0, pages): each line's ID is the page or
		// range after the last, problem lines ("-") at the end.
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		next := uint64(0)
		for _, line := range lines[1:] {
			fields := strings.Fields(line)
			if fields[0] == "-" {
				continue
			}
			// ID is a page or a range; a run's OVERFLOW counts the
			// pages after its first (pages 0 and 1 are one page each,
			// whatever their header says).
			lo, hi, ok := strings.Cut(fields[0], "-")
			first, err1 := strconv.ParseUint(lo, 10, 64)
			last, err2 := first, error(nil)
			if ok {
				last, err2 = strconv.ParseUint(hi, 10, 64)
			} else if ov, err := strconv.ParseUint(fields[2], 10, 64); err == nil && first >= 2 {
				last = first + ov
			}
			if err1 != nil || err2 != nil || first != next || last < first {
				t.Fatalf("pages: line %q after page %d: not the next page or range\n%s", line, next, stdout)
			}
			next = last + 1
		}
		// The page size the listing used is the file's length over its
		// pages, unknown here: ask page for the first pages listed.
		ids := []string{"page", path}
		for id := range min(next, 6) {
			ids = append(ids, fmt.Sprint(id))
		}
		if len(ids) == 2 {
			return
		}
		listing, listed := stdout, code
		code, stdout, stderr = runCLI(t, ids...)
		// page exits 1 only for damage it shows, which pages saw too.
		if code != exitOK && (code != exitFail || listed != exitFail || !problemsFound.MatchString(stderr)) {
			t.Fatalf("%v: exit %d (%s), though pages listed %d pages (exit %d):\n%s", ids, code, stderr, next, listed, listing)
		}
		if got := strings.Count(stdout, "\npage ") + 1; !strings.HasPrefix(stdout, "page 0\n") || got != len(ids)-2 {
			t.Fatalf("%v: %d pages shown:\n%s", ids, got, stdout)
		}
	})
}

// problemsFound matches the end of stderr of a command that found problems.
var problemsFound = regexp.MustCompile(`(^|\n)folio: \d+ problems? found\n$`)

// TestNoUsableMeta: a file whose two meta pages both fail their
// checksum (FuzzPages found it) is refused by info, pages and check in
// one line saying "folio: " once. The library quoted meta page 1's error
// with its own "folio: " inside its message; pages added the same two
// problems again from its own reading of the meta pages ("and reading
// its meta pages: ..."); check counted that reading as a second problem.
func TestNoUsableMeta(t *testing.T) {
	path := sampleDB(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1      // meta page 0's body
	b[1024+100] ^= 1 // meta page 1's (1 KiB pages)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"info", path}, {"pages", path}, {"page", path, "0"}, {"check", path}} {
		code, stdout, stderr := runCLI(t, args...)
		line := oneLine(t, args, stderr)
		if code != exitFail || strings.Count(line, "meta checksum") > 2 {
			t.Errorf("%v: exit %d, stderr %q: want exit %d, each meta page's problem once", args, code, line, exitFail)
		}
		if args[0] == "check" && !strings.Contains(stdout, "1 problem found") {
			t.Errorf("check: %q, want the one problem counted once", stdout)
		}
	}
}
