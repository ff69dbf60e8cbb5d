package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// boltBranchElem returns the key of element i of the bbolt branch page
// p, in place, and the child page it names (a branch element: pos,
// ksize, page id).
func boltBranchElem(p []byte, i int) (key []byte, child uint64) {
	e := 16 + i*16
	pos, ks := int(binary.LittleEndian.Uint32(p[e:])), int(binary.LittleEndian.Uint32(p[e+4:]))
	return p[e+pos : e+pos+ks], binary.LittleEndian.Uint64(p[e+8:])
}

// TestMigrateBoltBranchOrder: a bbolt branch page whose keys are out of
// order, or whose child holds keys outside the range the branch gives it
// (below its key for the child, or at or past its next key), is the
// source's damage: migrate says the bbolt file is damaged at that page,
// in one line, and leaves nothing. checkBoltPages checked the order of
// leaf keys only: the file with a branch out of order migrated (exit 0,
// its copy holding what bbolt's cursor read), the others failed on the
// copy's verification, blaming the new file.
func TestMigrateBoltBranchOrder(t *testing.T) {
	kv := map[string]string{}
	for i := range 2000 {
		kv[fmt.Sprintf("key%04d", i)] = fmt.Sprintf("value of key %d", i)
	}
	for _, tc := range []struct {
		name string
		// damage forges the branch page p of the bbolt file f; it
		// returns the damaged page and what the error says of it.
		damage func(f *boltFile, id uint64, p []byte) (uint64, string)
	}{
		{"keys out of order", func(f *boltFile, id uint64, p []byte) (uint64, string) {
			k0, _ := boltBranchElem(p, 0)
			k2, _ := boltBranchElem(p, 2)
			copy(k2, k0) // the keys are all 7 bytes long
			return id, "element 2: keys out of order"
		}},
		{"child below its key", func(f *boltFile, id uint64, p []byte) (uint64, string) {
			k1, child := boltBranchElem(p, 1)
			k1[len(k1)-1]++ // above the child's first key, below the next
			return child, fmt.Sprintf("keys below the key page %d has for it (element 1)", id)
		}},
		{"child past the next key", func(f *boltFile, id uint64, p []byte) (uint64, string) {
			k1, _ := boltBranchElem(p, 1)
			_, child := boltBranchElem(p, 0)
			c := f.page(child)
			last := int(binary.LittleEndian.Uint16(c[10:])) - 1
			e := 16 + last*16 // a leaf element: flags, pos, ksize, vsize
			pos, ks := int(binary.LittleEndian.Uint32(c[e+4:])), int(binary.LittleEndian.Uint32(c[e+8:]))
			copy(c[e+pos:e+pos+ks], k1) // the next child's first key
			return child, fmt.Sprintf("keys at or past the next key page %d has (element 1)", id)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := boltDB(t, dbModel{"b": {KV: kv}})
			f := readBoltFile(t, src)
			var id uint64
			for i := uint64(2); int(i+1)*f.ps <= len(f.b); i++ {
				p := f.page(i)
				if binary.LittleEndian.Uint64(p) == i && binary.LittleEndian.Uint16(p[8:]) == 0x01 && binary.LittleEndian.Uint16(p[10:]) >= 3 {
					id = i
					break
				}
			}
			if id == 0 {
				t.Fatal("no branch page of 3 elements or more")
			}
			bad, what := tc.damage(f, id, f.page(id))
			if err := os.WriteFile(src, f.b, 0o600); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			args := []string{"migrate", "--from", "bbolt", src, filepath.Join(dir, "m.db")}
			code, _, stderr := runCLI(t, args...)
			line := oneLine(t, args, stderr)
			want := fmt.Sprintf("folio: migrate %s: bbolt file %s is damaged: page %d: %s", src, src, bad, what)
			if code != exitFail || line != want {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, line, exitFail, want)
			}
			noTempNames(t, args, line)
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}
