package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
	bolt "go.etcd.io/bbolt"
)

// tagKeys renders a key as <key>, for a test to find it in Check's
// problems (folio's default quotes it, bbolt's writes hex).
type tagKeys struct{}

func (tagKeys) KeyToString(k []byte) string   { return "<" + string(k) + ">" }
func (tagKeys) ValueToString(v []byte) string { return "<" + string(v) + ">" }

// Both take bbolt's KVStringer and folio's.
var (
	_ KVStringer      = tagKeys{}
	_ bolt.KVStringer = tagKeys{}
)

func checkWith(tx *Tx, opts ...CheckOption) []error {
	var errs []error
	for err := range tx.Check(opts...) {
		errs = append(errs, err)
	}
	return errs
}

func boltCheckWith(tx *bolt.Tx, opts ...bolt.CheckOption) []error {
	var errs []error
	for err := range tx.Check(opts...) {
		errs = append(errs, err)
	}
	return errs
}

// fillCheckPair gives both files nested buckets over several leaves, an
// inline bucket and values over a quarter of a page (folio's large runs,
// bbolt's overflow leaves).
func fillCheckPair(p *inspectPair) {
	p.update(func(ftx *Tx, btx *bolt.Tx) error {
		for _, fill := range []struct {
			path    []string
			n, size int
		}{{[]string{"a"}, 300, 40}, {[]string{"a", "n"}, 200, 40}, {[]string{"b"}, 3, 10}, {[]string{"big"}, 5, 2500}} {
			if err := both(ftx, btx, fill.path, putN(fill.n, fill.size)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestCheckFromPageLikeBbolt: Check(WithPageId(id)) from every branch and
// leaf page of a healthy file finds no problem, in folio and in bbolt
// 1.4.3; WithPageId(0) checks the whole file in both; an id out of
// [2, high) is one problem naming that range in both.
func TestCheckFromPageLikeBbolt(t *testing.T) {
	p := newInspectPair(t, nil)
	fillCheckPair(p)
	p.view(func(ftx *Tx, btx *bolt.Tx) {
		fhigh, bhigh := uint64(ftx.Size()/1024), uint64(btx.Size()/1024)
		fkinds, bkinds := map[string]int{}, map[string]int{}
		for id := uint64(2); id < fhigh; id++ {
			info, err := ftx.Page(int(id))
			if err != nil || info == nil {
				t.Fatalf("folio Page(%d): %v, %v", id, info, err)
			}
			if info.Type != "branch" && info.Type != "leaf" {
				continue
			}
			fkinds[info.Type]++
			if errs := checkWith(ftx, WithPageId(id)); len(errs) != 0 {
				t.Errorf("folio Check from %s page %d: %v", info.Type, id, errs)
			}
		}
		for id := uint64(2); id < bhigh; id++ {
			info, err := btx.Page(int(id))
			if err != nil || info == nil {
				t.Fatalf("bbolt Page(%d): %v, %v", id, info, err)
			}
			if info.Type != "branch" && info.Type != "leaf" {
				continue
			}
			bkinds[info.Type]++
			if errs := boltCheckWith(btx, bolt.WithPageId(id)); len(errs) != 0 {
				t.Errorf("bbolt Check from %s page %d: %v", info.Type, id, errs)
			}
		}
		if fkinds["branch"] == 0 || fkinds["leaf"] == 0 || bkinds["branch"] == 0 || bkinds["leaf"] == 0 {
			t.Errorf("pages checked: folio %v, bbolt %v; want branches and leaves in both", fkinds, bkinds)
		}
		if ferrs, berrs := checkWith(ftx, WithPageId(0)), boltCheckWith(btx, bolt.WithPageId(0)); len(ferrs) != 0 || len(berrs) != 0 {
			t.Errorf("WithPageId(0), the whole file: folio %v, bbolt %v", ferrs, berrs)
		}
		for _, id := range []struct{ folio, bolt uint64 }{{1, 1}, {fhigh, bhigh}, {fhigh + 1, bhigh + 1}, {math.MaxUint64, math.MaxUint64}} {
			ferrs := checkWith(ftx, WithPageId(id.folio))
			berrs := boltCheckWith(btx, bolt.WithPageId(id.bolt))
			fwant, bwant := fmt.Sprintf("out of range [2, %d)", fhigh), fmt.Sprintf("out of range [2, %d)", bhigh)
			if len(ferrs) != 1 || !strings.Contains(ferrs[0].Error(), fwant) || len(berrs) != 1 || !strings.Contains(berrs[0].Error(), bwant) {
				t.Errorf("WithPageId(%d): folio %v; bbolt (%d) %v; want one problem %q in each", id.folio, ferrs, id.bolt, berrs, "out of range [2, high)")
			}
			if len(ferrs) == 1 && (!errors.Is(ferrs[0], ErrInvalidOptions) || errors.Is(ferrs[0], ErrCorrupt)) {
				t.Errorf("WithPageId(%d): %v is not ErrInvalidOptions (the file is sound)", id.folio, ferrs[0])
			}
		}
	})
}

// swapBoltKeys swaps the keys of elements i and j (of one length) of the
// bbolt leaf at id in file b (bbolt's page layout: a 16-byte header, then
// 16-byte elements whose pos counts from the element).
func swapBoltKeys(t *testing.T, b []byte, ps int, id uint64, i, j int) {
	t.Helper()
	p := b[int(id)*ps:]
	key := func(n int) []byte {
		e := 16 + n*16
		pos, ksize := binary.LittleEndian.Uint32(p[e+4:]), binary.LittleEndian.Uint32(p[e+8:])
		return p[e+int(pos) : e+int(pos)+int(ksize)]
	}
	ki, kj := key(i), key(j)
	if len(ki) != len(kj) {
		t.Fatalf("keys %q and %q differ in length", ki, kj)
	}
	tmp := bytes.Clone(ki)
	copy(ki, kj)
	copy(kj, tmp)
}

// TestCheckFromPageKVStringer: a leaf whose keys are out of order (its
// checksums right, as a buggy writer could leave it) is found from the
// leaf's page id and from its bucket's root, in folio and bbolt 1.4.3,
// and both name the key through WithKVStringer's KeyToString. Without
// the option folio quotes keys (%q) as before, bbolt writes hex; with
// it, a whole-file Check names keys through it too.
func TestCheckFromPageKVStringer(t *testing.T) {
	const ps = 1024
	p := newInspectPair(t, nil)
	p.update(func(ftx *Tx, btx *bolt.Tx) error { return both(ftx, btx, []string{"a"}, putN(300, 40)) })

	// bbolt: swap keys 1 and 2 of a leaf of bucket a.
	var bleaf, broot uint64
	p.view(func(_ *Tx, btx *bolt.Tx) {
		broot = uint64(btx.Bucket([]byte("a")).Root())
		for id := 2; int64(id) < btx.Size()/ps; id++ {
			if info, _ := btx.Page(id); info != nil && info.Type == "leaf" && info.Count >= 3 && uint64(id) != broot {
				bleaf = uint64(id)
				break
			}
		}
	})
	if bleaf == 0 {
		t.Fatal("bbolt: no leaf of 3 keys")
	}
	bpath := p.bdb.Path()
	if err := p.bdb.Close(); err != nil {
		t.Fatal(err)
	}
	bimg := mustRead(t, bpath)
	swapBoltKeys(t, bimg, ps, bleaf, 1, 2)
	if err := os.WriteFile(bpath, bimg, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(bpath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var bkey []byte
	if err := bdb.View(func(btx *bolt.Tx) error {
		// The key now at element 2: the smaller of the two, out of order.
		bkey = boltLeafKey(bimg, ps, bleaf, 2)
		for _, from := range []uint64{bleaf, broot} {
			errs := boltCheckWith(btx, bolt.WithPageId(from), bolt.WithKVStringer(tagKeys{}))
			if !anyContains(errs, "<"+string(bkey)+">") {
				t.Errorf("bbolt Check from page %d with tagKeys: %v; want the key %q as <%s>", from, errs, bkey, bkey)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// folio: the same edit, resealed up to the meta.
	fpath := p.db.Path()
	img := imageAfterClose(t, p.db)
	e := newEditImage(t, img)
	leaf, _ := editKeyOrder(e)
	fkey, ok := page.LeafKey(e.run(leaf), 2)
	if !ok {
		t.Fatal("edited leaf has no key 2")
	}
	fkey = bytes.Clone(fkey)
	writeImage(t, fpath, e.b)
	db := openPath(t, fpath, nil)
	if err := db.View(func(tx *Tx) error {
		froot := uint64(tx.Bucket([]byte("a")).Root())
		for _, from := range []uint64{uint64(leaf), froot} {
			errs := checkWith(tx, WithPageId(from), WithKVStringer(tagKeys{}))
			wantProblem(t, errs, leaf, "<"+string(fkey)+">")
			if len(errs) != 1 {
				t.Errorf("Check from page %d: %d problems, want the one: %v", from, len(errs), errs)
			}
			wantProblem(t, checkWith(tx, WithPageId(from)), leaf, fmt.Sprintf("%q", fkey))
		}
		wantProblem(t, checkWith(tx, WithKVStringer(tagKeys{})), leaf, "<"+string(fkey)+">")
		wantProblem(t, checkWith(tx, WithKVStringer(HexKVStringer())), leaf, fmt.Sprintf("%x", fkey))
		// nil: the default, as no option.
		wantProblem(t, checkWith(tx, WithKVStringer(nil)), leaf, fmt.Sprintf("%q", fkey))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// boltLeafKey is key i of the bbolt leaf at id in file b.
func boltLeafKey(b []byte, ps int, id uint64, i int) []byte {
	p := b[int(id)*ps:]
	e := 16 + i*16
	pos, ksize := binary.LittleEndian.Uint32(p[e+4:]), binary.LittleEndian.Uint32(p[e+8:])
	return bytes.Clone(p[e+int(pos) : e+int(pos)+int(ksize)])
}

func anyContains(errs []error, s string) bool {
	for _, err := range errs {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// TestCheckFromHostilePage: WithPageId at a page that is no branch or
// leaf in use (a free page, whose stale bytes may still read as a leaf;
// the free list; a large value's first page and one inside its run; a
// meta page; ids past the end up to the largest uint64) is a problem
// naming the page, never a panic, while every branch and leaf in use
// checks clean, in direct mode, with NoFreelistSync and in WAL mode (no
// free list persisted: the free pages are found by what is reachable).
func TestCheckFromHostilePage(t *testing.T) {
	const ps = 1024
	for _, opts := range []*Options{{PageSize: ps}, {PageSize: ps, NoFreelistSync: true}, walOpts(ps)} {
		t.Run(fmt.Sprintf("NoFreelistSync=%v,WAL=%v", opts.NoFreelistSync, opts.WAL), func(t *testing.T) {
			db := openTest(t, opts)
			for round := range 3 {
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("a"))
					if err != nil {
						return err
					}
					for i := range 300 {
						// Each round rewrites every leaf: the old ones are free.
						if err := b.Put(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{byte(round)}, 40)); err != nil {
							return err
						}
					}
					big, err := tx.CreateBucketIfNotExists([]byte("big"))
					if err != nil {
						return err
					}
					return big.Put([]byte("v"), bytes.Repeat([]byte{'v'}, 3*ps))
				})
			}
			if err := db.View(func(tx *Tx) error {
				high := uint64(tx.Size() / ps)
				kinds := map[string][]uint64{}
				for id := uint64(2); id < high; id++ {
					info, err := tx.Page(int(id))
					if err != nil {
						return err
					}
					kinds[info.Type] = append(kinds[info.Type], id)
					if info.Type == "large" {
						kinds["inside a large run"] = append(kinds["inside a large run"], id+1)
					}
				}
				if len(kinds["free"]) == 0 || len(kinds["large"]) == 0 {
					t.Fatalf("pages by kind %v: want free pages and a large run", kinds)
				}
				for _, id := range append(kinds["branch"], kinds["leaf"]...) {
					if errs := checkWith(tx, WithPageId(id)); len(errs) != 0 {
						t.Errorf("WithPageId(%d), a page in use: %v", id, errs)
					}
				}
				kinds["meta"] = []uint64{1}
				kinds["out of range"] = []uint64{high, high + 1, math.MaxUint64 - 1, math.MaxUint64}
				for _, kind := range []string{"free", "freelist", "large", "inside a large run", "meta", "out of range"} {
					for _, id := range kinds[kind] {
						errs := checkWith(tx, WithPageId(id))
						if len(errs) == 0 {
							t.Errorf("WithPageId(%d), %s: no problem", id, kind)
						}
						if kind != "out of range" && !anyContains(errs, fmt.Sprintf("page %d", id)) {
							t.Errorf("WithPageId(%d), %s: %v; want a problem naming page %d", id, kind, errs, id)
						}
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCheckFromPageChecksums: WithPageId checks the CRC of the page it
// starts from (no parent is read: its header's checksum is the one to
// match) and of every page under it, nested buckets' too, and no other:
// a bit flipped in a leaf of bucket a/n is found from that leaf and from
// a's root, not from b's; a bit flipped in the page it starts from is
// found too.
func TestCheckFromPageChecksums(t *testing.T) {
	const ps = 1024
	path, img := builtImage(t, &Options{PageSize: ps}, func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		n, err := a.CreateBucket([]byte("n"))
		if err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 300 {
			k, v := fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{'v'}, 40)
			for _, bk := range []*Bucket{a, n, b} {
				if err := bk.Put(k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	_, pages := pageMap(t, img)
	var nested, bleaf page.ID
	for _, p := range pages {
		switch {
		case p.kind == page.FlagLeaf && !p.root && slices.Equal(p.bucket, []string{"a", "n"}):
			nested = p.id
		case p.kind == page.FlagLeaf && !p.root && slices.Equal(p.bucket, []string{"b"}):
			bleaf = p.id
		}
	}
	if nested == 0 || bleaf == 0 {
		t.Fatal("no leaf of a/n or of b that is not a root")
	}
	bad := bytes.Clone(img)
	flipBit(bad, ps, nested, 100)
	flipBit(bad, ps, bleaf, 100)
	writeImage(t, path, bad)
	db := openPath(t, path, nil)
	if err := db.View(func(tx *Tx) error {
		aroot, broot := uint64(tx.Bucket([]byte("a")).Root()), uint64(tx.Bucket([]byte("b")).Root())
		for _, from := range []uint64{uint64(nested), aroot} {
			errs := checkWith(tx, WithPageId(from))
			wantProblem(t, errs, nested, "checksum")
			if len(errs) != 1 {
				t.Errorf("Check from page %d: %v; want the one problem, in page %d (b's leaf %d is not under it)", from, errs, nested, bleaf)
			}
		}
		errs := checkWith(tx, WithPageId(uint64(bleaf)))
		wantProblem(t, errs, bleaf, "checksum")
		errs = checkWith(tx, WithPageId(broot))
		wantProblem(t, errs, bleaf, "checksum")
		for _, err := range errs {
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidOptions) {
				t.Errorf("Check from page %d: %v; want ErrCorrupt", broot, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
