package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

var writeSeeds = flag.Bool("fuzz.writeseeds", false, "write the seed corpora of FuzzOpenCorrupt and of page's fuzz targets from freshly built databases (run after a format change)")

// fuzzValue is the value the seed databases store under key in the bucket
// at path: derived from both, so any value read can be checked without
// knowing which database it came from. Every seventh key's value is large
// (stored out of line on 1 KiB pages).
func fuzzValue(path, key string) []byte {
	h := crc32.ChecksumIEEE([]byte(path + "\x00" + key))
	n := int(h % 60)
	if h%7 == 0 {
		n = 300 + int(h%900)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(h>>(8*(i%4))) + byte(i)
	}
	return v
}

// fuzzSeedDB builds a small database (1 KiB pages, file grown a page at
// a time) with nested buckets, large values, a persisted free list with
// free pages (variant > 0), and a tree two levels deep in bucket "a"
// (variant 2). Variant 3 is variant 2 committed with syncs: its metas
// list the runs of one-sync commits, which Open verifies.
func fuzzSeedDB(t testing.TB, variant int) []byte {
	t.Helper()
	synced := variant == 3
	variant = min(variant, 2)
	path := filepath.Join(t.TempDir(), "seed.db")
	db, err := Open(path, 0o600, &Options{PageSize: 1024, NoSync: !synced})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 1024
	put := func(tx *Tx, path []string, keys int) error {
		b, err := tx.CreateBucketIfNotExists([]byte(path[0]))
		for _, name := range path[1:] {
			if err != nil {
				break
			}
			b, err = b.CreateBucketIfNotExists([]byte(name))
		}
		if err != nil {
			return err
		}
		for i := 0; i < keys; i++ {
			k := fmt.Sprintf("k%03d", i)
			if err := b.Put([]byte(k), fuzzValue(strings.Join(path, "/"), k)); err != nil {
				return err
			}
		}
		_, err = b.NextSequence()
		return err
	}
	err = db.Update(func(tx *Tx) error {
		if err := put(tx, []string{"a"}, 6+30*variant); err != nil {
			return err
		}
		if err := put(tx, []string{"a", "n"}, 4); err != nil {
			return err
		}
		return put(tx, []string{"b"}, 3)
	})
	if err == nil && variant > 0 {
		// Replace and delete some values, so pages are freed.
		err = db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			if err := b.Delete([]byte("k001")); err != nil {
				return err
			}
			return put(tx, []string{"c", "d", "e"}, 2)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	img := imageAfterClose(t, db)
	if synced && len(page.MetaCommitRuns(img[:1024], nil))+len(page.MetaCommitRuns(img[1024:2048], nil)) == 0 {
		t.Fatal("the synced seed's metas list no commit runs: its commits were not one-sync")
	}
	return img
}

// FuzzOpenCorrupt opens a mutated database file and reads everything in
// it: every bucket, recursively, with cursors both ways and Gets, then
// Check, then (if Check found nothing) a write. The only acceptable
// outcomes are an error or correct data: no panic, fault or hang, no
// large allocation. With VerifyChecksums every value read must be the
// one the seed stored; a file Check passes must read without error; a
// file whose reads fail must fail Check too.
func FuzzOpenCorrupt(f *testing.F) {
	for v := 0; v < 4; v++ {
		f.Add(fuzzSeedDB(f, v))
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 1<<20 {
			return
		}
		defer slowGuard("FuzzOpenCorrupt", img)()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		readErr, problems := fuzzRead(t, img, &Options{VerifyChecksums: true}, true)
		// Every error a damaged file causes is ErrCorrupt naming a page;
		// the walk's own errors (keys out of order, nesting) come with
		// a Check problem, which says it.
		if readErr != nil && readErr != errNoOpen && !errors.Is(readErr, errFuzzWalk) {
			wantDamageErr(t, "reads", readErr, false)
		}
		for _, err := range problems {
			wantDamageErr(t, "Check", err, false)
		}
		if readErr != nil && readErr != errNoOpen && len(problems) == 0 {
			t.Errorf("reads failed (%v) but Check found nothing", readErr)
		}
		// Without VerifyChecksums a damaged page body can be served, but
		// nothing may panic or hang, and Check still verifies all.
		readErr2, problems2 := fuzzRead(t, img, &Options{}, false)
		// NB: a read-write open with VerifyChecksums walks the trees and
		// refuses a page two parents reach, which a plain open leaves to
		// Check: then only the plain open's Check can speak, and must.
		refused := readErr == errNoOpen && readErr2 != errNoOpen
		switch {
		case refused && len(problems2) == 0:
			t.Errorf("the open with VerifyChecksums failed, and Check without it found nothing")
		case refused:
		case len(problems2) != len(problems):
			t.Errorf("Check found %d problems with VerifyChecksums and %d without", len(problems), len(problems2))
		case (readErr == errNoOpen) != (readErr2 == errNoOpen):
			t.Errorf("opens with VerifyChecksums: %v; without: %v", readErr != errNoOpen, readErr2 != errNoOpen)
		}

		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20+uint64(len(img))*64 {
			t.Errorf("reading a %d-byte file allocated %d bytes", len(img), n)
		}
	})
}

var (
	errNoOpen   = errors.New("did not open")
	errFuzzWalk = errors.New("the fuzz target's walk")
)

// fuzzRead opens img, reads everything (checking values against
// fuzzValue when oracle is set) and runs Check; if Check is clean it also
// writes. It returns the reads' error (errNoOpen if Open failed) and
// Check's problems.
func fuzzRead(t *testing.T, img []byte, opts *Options, oracle bool) (readErr error, problems []error) {
	db, err := openImage(t, "fuzz.db", img, opts)
	if err != nil {
		wantDamageErr(t, "open", err, true)
		return errNoOpen, nil
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	readErr = db.View(func(tx *Tx) error {
		var walk func(b *Bucket, path string, depth int) error
		walk = func(b *Bucket, path string, depth int) error {
			if depth > 64 {
				return fmt.Errorf("%w: buckets nested too deep", errFuzzWalk)
			}
			c := b.Cursor()
			var prev []byte
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if prev != nil && bytes.Compare(prev, k) >= 0 {
					if oracle {
						t.Errorf("%s: cursor went from %q to %q", path, prev, k)
					}
					return fmt.Errorf("%w: keys out of order", errFuzzWalk)
				}
				prev = bytes.Clone(k)
				if v == nil {
					if sub := b.Bucket(k); sub != nil {
						if err := walk(sub, path+"/"+string(k), depth+1); err != nil {
							return err
						}
					}
					continue
				}
				g := b.Get(k)
				if oracle && tx.Err() == nil {
					if want := fuzzValue(path, string(k)); !bytes.Equal(v, want) || !bytes.Equal(g, want) {
						t.Errorf("%s/%s: read %d bytes (Get %d), the seed stored %d: wrong data served", path, k, len(v), len(g), len(want))
					}
				}
			}
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			}
			return nil
		}
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if b := tx.Bucket(k); b != nil {
				if err := walk(b, string(k), 0); err != nil {
					return err
				}
			}
		}
		return nil
	})
	problems = checkErrs(db)
	if len(problems) == 0 {
		if readErr != nil {
			t.Errorf("Check passed, but reads failed: %v", readErr)
		}
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("fuzz-write"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), make([]byte, 700))
		})
		if err != nil {
			t.Errorf("Check passed, but a write failed: %v", err)
		}
		for _, err := range checkErrs(db) {
			t.Errorf("after a write: %v", err)
		}
	}
	return readErr, problems
}

// TestWriteFuzzSeeds writes the seed corpora (with -fuzz.writeseeds):
// testdata/fuzz/FuzzOpenCorrupt holds whole small databases, and
// page/testdata/fuzz the real pages and values found in them.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("writes the seed corpora; run with -fuzz.writeseeds")
	}
	for v := 0; v < 3; v++ {
		img := fuzzSeedDB(t, v)
		writeCorpusFile(t, filepath.Join("testdata", "fuzz", "FuzzOpenCorrupt", fmt.Sprintf("seed-db-%d", v)), img)
		if v != 2 {
			continue
		}
		// Real pages for page's fuzz targets: both metas, each kind of
		// page, bucket headers, large-value descriptors, the free list.
		const ps = 1024
		_, pages := pageMap(t, img)
		pdir := filepath.Join("page", "testdata", "fuzz")
		for slot := 0; slot < 2; slot++ {
			writeCorpusFile(t, filepath.Join(pdir, "FuzzDecodeMeta", fmt.Sprintf("meta-%d", slot)), img[slot*ps:(slot+1)*ps], false)
		}
		kinds := map[page.Flags]int{}
		for _, p := range pages {
			run := img[int(p.id)*ps : (int(p.id)+p.pages)*ps]
			kinds[p.kind]++
			name := fmt.Sprintf("%s-%d", p.kind, kinds[p.kind])
			switch p.kind {
			case page.FlagBranch, page.FlagLeaf:
				writeCorpusFile(t, filepath.Join(pdir, "FuzzNode", name), run, false)
				count := page.PageCount(run)
				for i := 0; i < count && p.kind == page.FlagLeaf; i++ {
					flags, v, _ := page.LeafValue(run, i)
					switch {
					case flags&page.LeafBucket != 0:
						writeCorpusFile(t, filepath.Join(pdir, "FuzzDecodeBucketHeader", fmt.Sprintf("%s-%d", name, i)), v)
					case flags&page.LeafLarge != 0:
						writeCorpusFile(t, filepath.Join(pdir, "FuzzDecodeLargeRef", fmt.Sprintf("%s-%d", name, i)), v)
					}
				}
			case page.FlagFreelist:
				writeCorpusFile(t, filepath.Join(pdir, "FuzzDecodeFreelist", name), run[page.HeaderSize:], uint64(len(img)/ps))
			case page.FlagLarge:
				writeCorpusFile(t, filepath.Join(pdir, "FuzzNode", name), run, false)
			}
		}
	}
}

// writeCorpusFile writes one input of a fuzz corpus in the format of
// testing's fuzzing engine.
func writeCorpusFile(t *testing.T, path string, args ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", a)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", a)
		default:
			t.Fatalf("corpus value of type %T", a)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzResealed edits pages of a small valid database behind the
// checksums: each edit (three bytes of edits: page, offset, value) changes
// one byte of a reachable page other than its checksum, and the page and
// every page above it up to the meta are resealed, as a folio bug or a
// hostile file could have written them. Opening, reading everything and
// Check may then fail with ErrCorrupt, and writing everywhere fail, but
// nothing may panic or hang; a file Check passes must read and take
// writes, and pass Check after them. The image is picked by variant
// (resealedSeed); variant 5 is the one-sync image, whose edited runs
// Open verifies against the meta's list (TestResealedOneSyncSeeds).
func FuzzResealed(f *testing.F) {
	var seeds [4][]byte
	for v := range seeds {
		seeds[v] = fuzzSeedDB(f, v)
	}
	f.Add(uint8(0), []byte{0, 40, 0, 1})
	f.Add(uint8(1), []byte{3, 0, 50, 7, 5, 0, 70, 0})
	f.Add(uint8(2), []byte{1, 0, 33, 9})
	f.Add(uint8(5), resealedValueEdit)
	f.Add(uint8(5), resealedTxIDEdit)
	f.Fuzz(func(t *testing.T, variant uint8, edits []byte) {
		if len(edits) > 64 {
			return
		}
		defer slowGuard("FuzzResealed", variant, edits)()
		e := newEditImage(t, resealedSeed(seeds, variant))
		e.lenient = true
		applyResealedEdits(e, edits)
		db, err := openImage(t, "fuzz.db", e.b, &Options{})
		if err != nil {
			wantDamageErr(t, "open", err, true)
			return
		}
		defer db.Close()
		wantDamageContained(t, db, "")
	})
}

// resealedSeed is the image FuzzResealed edits for variant: variant % 3
// picks fuzzSeedDB's variant, as it did before the one-sync image was
// added, so the inputs in testdata/fuzz/FuzzResealed keep their image;
// of variant 2, an odd variant / 3 picks its twin committed with syncs
// (fuzzSeedDB's variant 3), whose newest meta lists the runs its last
// commit wrote.
func resealedSeed(seeds [4][]byte, variant uint8) []byte {
	if v := variant % 3; v != 2 || variant/3%2 == 0 {
		return seeds[v]
	}
	return seeds[3]
}

// applyResealedEdits applies FuzzResealed's edits to e: each 4 bytes
// pick a reachable page (by rank in page order), an offset past its
// checksum and the byte to put there, then reseal the page and those
// above it.
func applyResealedEdits(e *editImage, edits []byte) {
	var ids []page.ID
	for id := range e.pages {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for len(edits) >= 4 {
		id := ids[int(edits[0])%len(ids)]
		run := e.run(id)
		off := 4 + int(binary.LittleEndian.Uint16(edits[1:]))%(len(run)-4)
		run[off] = edits[3]
		e.reseal(id)
		edits = edits[4:]
	}
}

// The one-sync seeds of FuzzResealed, on the image of variant 5 (its last
// commit wrote pages 23 to 25, c/d's leaf holding c/d/e inline, c's and
// the directory holding b inline, and its meta lists them with the free
// list's changes since the run at page 22). They edit page 23 (rank 17),
// c/d's leaf: byte 171, in the value of k000 in c/d/e's inline leaf,
// resealing pages 23 to 25, all listed; and page 24 (rank 18), c's leaf:
// byte 16, the low byte of its header's txid, 3 made 7.
var (
	resealedValueEdit = []byte{17, 167, 0, 0xaa}
	resealedTxIDEdit  = []byte{18, 12, 0, 7}
)
