package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// boltDB writes m into a new bbolt database.
func boltDB(t *testing.T, m dbModel) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.bolt")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	paths := make([]string, 0, len(m))
	for p := range m {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, p := range paths {
			names, err := parsePath(p)
			if err != nil {
				return err
			}
			b, err := tx.CreateBucketIfNotExists(names[0])
			for _, name := range names[1:] {
				if err != nil {
					break
				}
				b, err = b.CreateBucketIfNotExists(name)
			}
			if err != nil {
				return err
			}
			if err := b.SetSequence(m[p].Seq); err != nil {
				return err
			}
			for k, v := range m[p].KV {
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrate(t *testing.T) {
	m := randomModel(rand.New(rand.NewPCG(51, 52)), 20)
	// bbolt's buckets hold empty values too.
	m["x-empty"] = &bucketModel{Seq: 3, KV: map[string]string{"e": ""}}
	src := boltDB(t, m)
	before := fileSum(t, src)
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(exists, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	folioDB := sampleDB(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ok", []string{"migrate", "--from", "bbolt", src, "DST"}, exitOK, "verified: check ok, key counts equal"},
		{"page size", []string{"migrate", "--from", "bbolt", "--page-size", "16384", src, "DST"}, exitOK, "verified"},
		{"no --from", []string{"migrate", src, "DST"}, exitUsage, "--from is required"},
		{"from lmdb", []string{"migrate", "--from", "lmdb", src, "DST"}, exitUsage, "mdb_dump"},
		{"bad page size", []string{"migrate", "--from", "bbolt", "--page-size", "3", src, "DST"}, exitUsage, "power of two"},
		{"missing", []string{"migrate", "--from", "bbolt", filepath.Join(dir, "nope"), "DST"}, exitFail, "no such file"},
		{"not bbolt", []string{"migrate", "--from", "bbolt", folioDB, "DST"}, exitFail, "not a bbolt database"},
		{"destination exists", []string{"migrate", "--from", "bbolt", src, exists}, exitFail, "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.db")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "DST", dst)
			}
			code, out, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(out+stderr, tc.want) {
				t.Fatalf("exit %d, output %q%q; want %d and %q", code, out, stderr, tc.code, tc.want)
			}
			if code != exitOK {
				if _, err := os.Stat(dst); !os.IsNotExist(err) {
					t.Error("a failed migrate created the destination")
				}
				return
			}
			sameModel(t, readModel(t, dst), m, true)
			wantPS := 16384
			if tc.name == "ok" {
				wantPS = os.Getpagesize() // bbolt's default
			}
			if ps := pageSizeOf(t, dst); ps != wantPS {
				t.Errorf("page size %d, want %d", ps, wantPS)
			}
		})
	}
	if fileSum(t, src) != before {
		t.Error("migrate changed the bbolt file")
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Error("migrate overwrote an existing file")
	}
}

func TestMigrateLocked(t *testing.T) {
	src := boltDB(t, dbModel{"a": {KV: map[string]string{"k": "v"}}})
	w, err := bolt.Open(src, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	code, _, stderr := runCLI(t, "--timeout", "100ms", "migrate", "--from", "bbolt", src, filepath.Join(t.TempDir(), "d.db"))
	if code != exitFail || !strings.Contains(stderr, "locked by another process") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestMigrateDamagedBolt: bbolt trusts its pages and panics (or faults) on
// damaged ones; migrate turns that into an error naming the file, exit 1,
// and leaves neither the destination nor its temporary file behind.
func TestMigrateDamagedBolt(t *testing.T) {
	kv := map[string]string{}
	for i := range 2000 {
		kv[fmt.Sprintf("key%04d", i)] = fmt.Sprintf("value of key %d", i)
	}
	for _, tc := range []struct {
		name string
		off  int    // in each leaf page
		val  []byte // written there
	}{
		// The first element's key offset (from the element): past
		// bbolt's 2 GiB bound (a bounds panic), or past the mapping (a
		// memory fault).
		{"key offset out of bounds", 16 + 4, []byte{0xf0, 0xff, 0xff, 0x7f}},
		{"key offset past the mapping", 16 + 4, []byte{0, 0, 0, 0x40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := boltDB(t, dbModel{"b": {KV: kv}})
			damageBoltLeaves(t, src, tc.off, tc.val)
			dir := t.TempDir()
			dst := filepath.Join(dir, "dst.db")
			code, _, stderr := runCLI(t, "migrate", "--from", "bbolt", src, dst)
			if code != exitFail || !strings.Contains(stderr, "bbolt file "+src+" is damaged") {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}

// damageBoltLeaves writes val at off in every leaf page of a bbolt file
// holding more than one key.
func damageBoltLeaves(t *testing.T, path string, off int, val []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize() // bbolt's default page size
	n := 0
	for p := 2 * ps; p+ps <= len(b); p += ps {
		// A bbolt page header: id (8 bytes), flags (2; 0x02 a leaf),
		// count (2), overflow (4); then 16-byte leaf elements.
		if binary.LittleEndian.Uint16(b[p+8:]) == 0x02 && binary.LittleEndian.Uint16(b[p+10:]) > 1 &&
			binary.LittleEndian.Uint64(b[p:]) == uint64(p/ps) {
			copy(b[p+off:], val)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no leaf pages")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
