package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestCompactAfterDeletes: 200,000 keys, 90% deleted; compact gives a
// file at most 20% of the original, with the same contents.
func TestCompactAfterDeletes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 200,000-key database")
	}
	path := filepath.Join(t.TempDir(), "big.db")
	db, err := folio.Open(path, 0o600, &folio.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200_000
	rng := rand.New(rand.NewPCG(31, 32))
	val := make([]byte, 64)
	err = db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		if err != nil {
			return err
		}
		if err := b.SetSequence(n); err != nil {
			return err
		}
		nested, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if _, err := nested.NextSequence(); err != nil {
			return err
		}
		return nested.Put([]byte("k"), []byte("v"))
	})
	// In key order, in one transaction: random order would be closer to
	// a live database, but costs ten times as long under -race (and, in
	// one transaction, O(n^2): a node splits only at commit), and the
	// deletes below leave the same mostly free file either way.
	if err == nil {
		err = db.Update(func(tx *folio.Tx) error {
			b := tx.Bucket([]byte("data"))
			for i := range n {
				for j := range val {
					val[j] = byte(rng.UintN(256))
				}
				if err := b.Put(fmt.Appendf(nil, "key-%011d", i), val); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		err = db.Update(func(tx *folio.Tx) error {
			b := tx.Bucket([]byte("data"))
			for i := range n {
				if i%10 != 0 {
					if err := b.Delete(fmt.Appendf(nil, "key-%011d", i)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	want := readModel(t, path)
	if len(want["data"].KV) != n/10 {
		t.Fatalf("%d keys left, want %d", len(want["data"].KV), n/10)
	}
	dst := filepath.Join(t.TempDir(), "compact.db")
	code, out, stderr := runCLI(t, "compact", path, dst)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "20001 keys in 2 buckets") || !strings.Contains(out, "verified: check ok") {
		t.Errorf("output: %s", out)
	}
	before, after := fileSize(path), fileSize(dst)
	ratio := float64(after) / float64(before)
	t.Logf("compaction: %d -> %d bytes (%.1f%%)", before, after, 100*ratio)
	if ratio > 0.20 {
		t.Errorf("compacted file is %.1f%% of the original, want at most 20%%", 100*ratio)
	}
	sameModel(t, readModel(t, dst), want, true)
}

func TestCompact(t *testing.T) {
	path := sampleDB(t)
	want := readModel(t, path)
	before := fileSum(t, path)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "text.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	exists := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(exists, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		want     string
		pageSize int
	}{
		{"keeps page size", []string{"compact", path, "DST"}, exitOK, "page size 1024", 1024},
		{"page size", []string{"compact", "--page-size", "8192", path, "DST"}, exitOK, "page size 8192", 8192},
		{"bad page size", []string{"compact", "--page-size", "1000", path, "DST"}, exitUsage, "power of two", 0},
		{"missing source", []string{"compact", filepath.Join(dir, "nope.db"), "DST"}, exitFail, "no such file", 0},
		{"not a database", []string{"compact", notDB, "DST"}, exitFail, "not a folio database", 0},
		{"destination exists", []string{"compact", path, exists}, exitFail, "already exists", 0},
		{"one argument", []string{"compact", path}, exitUsage, "accepts 2 arg", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.db")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "DST", dst)
			}
			code, out, stderr := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tc.code, out, stderr)
			}
			if got := out + stderr; !strings.Contains(got, tc.want) {
				t.Errorf("output lacks %q: %s", tc.want, got)
			}
			if tc.code != exitOK {
				if _, err := os.Stat(dst); !os.IsNotExist(err) {
					t.Errorf("a failed compact created %s", dst)
				}
				return
			}
			sameModel(t, readModel(t, dst), want, true)
			if ps := pageSizeOf(t, dst); ps != tc.pageSize {
				t.Errorf("page size %d, want %d", ps, tc.pageSize)
			}
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 1 {
				t.Errorf("%d files beside the copy, want none: a temporary file was left", len(entries)-1)
			}
		})
	}
	if fileSum(t, path) != before {
		t.Error("compact changed the source file")
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Error("compact overwrote an existing file")
	}
}

// TestCompactBesideReaderAndWriter: compact works while another program
// reads the source; a writer's lock makes it fail within --timeout.
func TestCompactBesideReaderAndWriter(t *testing.T) {
	path := sampleDB(t)
	r, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = r.View(func(tx *folio.Tx) error {
		if code, _, stderr := runCLI(t, "compact", path, filepath.Join(t.TempDir(), "c.db")); code != exitOK {
			t.Errorf("compact beside an open read transaction: %s", stderr)
		}
		return nil
	})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	w, err := folio.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dst := filepath.Join(t.TempDir(), "c.db")
	code, _, stderr := runCLI(t, "--timeout", "100ms", "compact", path, dst)
	if code != exitFail || !strings.Contains(stderr, "locked by another process") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Error("a failed compact created the destination")
	}
}

// TestCompactSmallTransactions copies through many transactions, so
// buckets are reopened on the path mid-copy.
func TestCompactSmallTransactions(t *testing.T) {
	defer func(k int) { copyTxKeys = k }(copyTxKeys)
	copyTxKeys = 7
	m := randomModel(rand.New(rand.NewPCG(41, 42)), 15)
	path := modelDB(t, m)
	dst := filepath.Join(t.TempDir(), "c.db")
	if code, _, stderr := runCLI(t, "compact", path, dst); code != exitOK {
		t.Fatal(stderr)
	}
	sameModel(t, readModel(t, dst), m, true)
}

// TestFillFlag: --fill packs the pages compact, migrate's copier and load
// make only that full, the contents unchanged; a fill outside 0.1-1 is a
// usage error.
func TestFillFlag(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db, err := folio.Open(src, 0o600, &folio.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		if err != nil {
			return err
		}
		for i := range 20000 {
			if err := b.Put([]byte(fmt.Sprintf("key%07d", i)), []byte(strings.Repeat("v", 40))); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	want := readModel(t, src)
	leaves := func(path string) (n int) {
		db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.View(func(tx *folio.Tx) error {
			n = tx.Bucket([]byte("data")).Stats().LeafPageN
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	made := func(name string, args ...string) int {
		t.Helper()
		dst := filepath.Join(dir, name)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "DST", dst)
		}
		if code, out, stderr := runCLI(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s%s", args, code, out, stderr)
		}
		sameModel(t, readModel(t, dst), want, true)
		return leaves(dst)
	}
	full := made("full.db", "compact", src, "DST")
	half := made("half.db", "compact", "--fill", "0.5", src, "DST")
	if half*10 < full*17 {
		t.Errorf("compact: %d leaves at --fill 0.5, %d full; want about twice", half, full)
	}
	dump := filepath.Join(dir, "dump.txt")
	if code, out, stderr := runCLI(t, "dump", src, "-o", dump); code != exitOK {
		t.Fatalf("dump: exit %d: %s%s", code, out, stderr)
	}
	loadedFull := made("loaded.db", "load", "DST", "-i", dump)
	loadedHalf := made("loaded-half.db", "load", "DST", "-i", dump, "--fill", "0.5")
	if loadedFull != full || loadedHalf*10 < loadedFull*17 {
		t.Errorf("load: %d leaves at --fill 0.5, %d full (compact: %d); want about twice, and as compact's", loadedHalf, loadedFull, full)
	}
	for _, args := range [][]string{
		{"compact", "--fill", "0", src, filepath.Join(dir, "x.db")},
		{"compact", "--fill", "1.5", src, filepath.Join(dir, "x.db")},
		{"compact", "--fill", "NaN", src, filepath.Join(dir, "x.db")},
		{"migrate", "--from", "bbolt", "--fill", "0.05", src, filepath.Join(dir, "x.db")},
		{"load", filepath.Join(dir, "x.db"), "-i", dump, "--fill", "2"},
	} {
		code, out, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(out+stderr, "--fill") {
			t.Errorf("%v: exit %d, want %d naming --fill: %s%s", args, code, exitUsage, out, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "x.db")); !os.IsNotExist(err) {
			t.Errorf("%v made a file", args)
		}
	}
}

// TestCopyKeepsFileMadeMeanwhile: compact and migrate check that DST does
// not exist before they copy, which can take minutes; a DST made in that
// time (by a second compact into the same name, or a program creating its
// database) is left as it is, and the copy fails and leaves nothing.
func TestCopyKeepsFileMadeMeanwhile(t *testing.T) {
	src := sampleDB(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "new.db")
	db, err := folio.Open(src, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := newApp(strings.NewReader(""), io.Discard, io.Discard)
	err = db.View(func(tx *folio.Tx) error {
		// Made after the command's check, as the copy begins.
		if err := os.WriteFile(dst, []byte("made meanwhile"), 0o600); err != nil {
			return err
		}
		_, err := copyTree(a, folioTree{tx: tx}, dst, 0o600, 1024, 1, "compact")
		return err
	})
	if !errors.Is(err, errExists) {
		t.Errorf("copyTree over a file made meanwhile: %v, want %v", err, errExists)
	}
	if b, _ := os.ReadFile(dst); string(b) != "made meanwhile" {
		t.Errorf("the file made meanwhile was replaced")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want 1: the copy left its temporary file", len(entries))
	}
}

// TestPlaceNew: placeNew moves a file into place only where nothing is.
func TestPlaceNew(t *testing.T) {
	dir := t.TempDir()
	tmp, path := filepath.Join(dir, "tmp"), filepath.Join(dir, "path")
	if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := placeNew(tmp, path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("placed %q", b)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("tmp left: %v", err)
	}
	if err := os.WriteFile(tmp, []byte("newer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := placeNew(tmp, path); !errors.Is(err, errExists) {
		t.Errorf("placeNew over a file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("replaced with %q", b)
	}
}
