package dumpfmt

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzReader")

// FuzzReader feeds the readers (format detection, zstd, text, print,
// binary) arbitrary bytes. They must never panic or hang, and whatever
// they accept must write back out, in the detected format, to a dump that
// reads as the same items. The seed corpus in testdata/fuzz/FuzzReader
// (real dumps of every format, compressed and not, and damaged ones) runs
// with plain go test.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, rd, err := readAll(data)
		if err != nil {
			return
		}
		again := writeAll(t, rd.Format(), Options{PageSize: rd.PageSize()}, recs)
		got, _, err := readAll(again)
		if err != nil {
			t.Fatalf("the reader accepted a dump, but not its own rewrite of it: %v", err)
		}
		sameRecs(t, got, recs)
	})
}

// TestWriteSeedCorpus regenerates the seed corpus (go test -run
// TestWriteSeedCorpus -update-corpus).
func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	recs := randomRecs(rand.New(rand.NewPCG(7, 8)), 3, 4)
	seeds := map[string][]byte{
		"empty":     nil,
		"mdb_dump":  []byte("VERSION=3\nformat=print\ndatabase=x\ntype=btree\nmapsize=1048576\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n a\\\\b\\0a\n v\\5c\n k\n \nDATA=END\n"),
		"main_db":   []byte("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6162\n 00\nDATA=END\n"),
		"truncated": []byte("VERSION=3\nformat=bytevalue\ndatabase=a\nHEADER=END\n 61\n"),
	}
	for _, f := range []Format{Text, Print, Binary} {
		for _, z := range []bool{false, true} {
			data := writeAll(t, f, Options{PageSize: 4096, Zstd: z}, recs)
			seeds[fmt.Sprintf("%v_zstd_%v", f, z)] = data
			if f == Binary && !z {
				bad := append([]byte(nil), data...)
				bad[len(bad)/2] ^= 1
				seeds["binary_damaged"] = bad
				seeds["binary_cut"] = data[:len(data)-3]
			}
		}
	}
	for name, data := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
