package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// aliasedInlineBucket returns the value of a bucket whose inline page
// holds two nested buckets that share one value, each an inline bucket
// built the same way, depth levels down: 2^depth buckets in a few KiB.
func aliasedInlineBucket(depth int) []byte {
	le := binary.LittleEndian
	v := make([]byte, 16+16) // a bucket header (root 0: inline) and an empty leaf
	le.PutUint16(v[16+8:], 0x02)
	for range depth {
		// Header, two elements, the key "k" once, the value once.
		p := make([]byte, 16+2*16+1+len(v))
		le.PutUint16(p[8:], 0x02)
		le.PutUint16(p[10:], 2)
		for i, pos := range []int{32, 16} { // both at offset 48
			e := p[16+i*16:]
			le.PutUint32(e, 0x01)
			le.PutUint32(e[4:], uint32(pos))
			le.PutUint32(e[8:], 1)
			le.PutUint32(e[12:], uint32(len(v)))
		}
		p[48] = 'k'
		copy(p[49:], v)
		v = append(make([]byte, 16), p...)
	}
	return v
}

// TestMigrateAliasedInlineBuckets: checkBoltPages walked every
// inline bucket inside a leaf as often as elements named it; elements
// whose values overlap (bbolt writes them in order, apart) made 2^n
// walks of n levels of inline buckets a few KiB long (40 levels: 2.6
// KiB, 2^40 calls, and migrate never ended). Overlapping elements are
// damage now, reported before bbolt walks them.
func TestMigrateAliasedInlineBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alias.bolt")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("a")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f := readBoltFile(t, path)
	root := f.page(binary.LittleEndian.Uint64(f.b[f.meta()+16:]))
	e, av := leafValue(t, root, "a")
	if binary.LittleEndian.Uint64(av) != 0 {
		t.Fatal(`bucket "a" is not inline`)
	}
	// "a" gets the forged value: its element is the last, so the value
	// may grow into the rest of the page.
	v := aliasedInlineBucket(22)
	off := e + int(binary.LittleEndian.Uint32(root[e+4:])) + 1
	copy(root[off:], v)
	binary.LittleEndian.PutUint32(root[e+12:], uint32(len(v)))
	if err := os.WriteFile(path, f.b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error { return checkBoltPages(tx, path) })
	if err == nil || !strings.Contains(err.Error(), "is damaged: page ") {
		t.Fatalf("checkBoltPages: %v, want the overlapping elements reported", err)
	}
}
