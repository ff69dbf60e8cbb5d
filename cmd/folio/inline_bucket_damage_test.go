package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// TestInlineBucketDamaged changes each byte of an inline bucket's value
// in its parent's leaf, three ways, with the page's checksum left as it
// was and resealed: pages, page, check, stats and dump decode the leaf
// or refuse it (exit 1: pages, page and stats in one line), never panic.
func TestInlineBucketDamaged(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if err := a.Put([]byte("pad"), bytes.Repeat([]byte("p"), 300)); err != nil {
			return err
		}
		b, err := a.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		for _, k := range []string{"k0", "k1", "k2"} {
			if err := b.Put([]byte(k), []byte("value-"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 1024
	var leaf int
	var value []byte
	for id := 2; (id+1)*ps <= len(img) && leaf == 0; id++ {
		p := img[id*ps : (id+1)*ps]
		if page.PageFlags(p) != page.FlagLeaf || page.PageID(p) != page.ID(id) {
			continue
		}
		for i := range page.PageCount(p) {
			if k, _ := page.LeafKey(p, i); string(k) == "x" {
				_, value, _ = page.LeafValue(p, i)
				leaf = id
			}
		}
	}
	if h, err := page.DecodeBucketHeader(value, page.ID(leaf)); err != nil || !h.Inline {
		t.Fatalf("a/x is not inline: %+v, %v", h, err)
	}
	start := bytes.Index(img, value) // the value's offset in the file
	dir := t.TempDir()
	runs := 0
	for off := range value {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			for _, reseal := range []bool{false, true} {
				b := bytes.Clone(img)
				b[start+off] ^= mask
				if reseal {
					page.Seal(b[leaf*ps : (leaf+1)*ps])
				}
				p := filepath.Join(dir, fmt.Sprintf("d%d.db", runs))
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				runs++
				where := fmt.Sprintf("byte %d xor %#x (resealed %v)", off, mask, reseal)
				for _, args := range [][]string{
					{"pages", p}, {"page", p, fmt.Sprint(leaf)}, {"check", p}, {"stats", p}, {"dump", p},
				} {
					code, _, stderr := runCLI(t, args...)
					switch {
					case code != exitOK && code != exitFail:
						t.Fatalf("%s: %v: exit %d: %s", where, args[0], code, stderr)
					case strings.Contains(stderr, "panic"):
						t.Fatalf("%s: %v: %s", where, args[0], stderr)
					case code == exitFail && args[0] != "check" && args[0] != "dump":
						oneLine(t, args, stderr)
					}
				}
				_ = os.Remove(p)
			}
		}
	}
	t.Logf("%d damaged files", runs)
}
