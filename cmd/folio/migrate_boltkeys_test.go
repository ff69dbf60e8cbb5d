package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateBoltEmptyKey: a bbolt leaf holding an empty key (bbolt
// writes none) is the source's damage: migrate says the bbolt file is
// damaged at that page, in one line, and leaves nothing. It said "copy
// into DST: ... key required", blaming the new file (FuzzMigrate).
func TestMigrateBoltEmptyKey(t *testing.T) {
	kv := map[string]string{}
	for i := range 2000 {
		kv[fmt.Sprintf("key%04d", i)] = fmt.Sprintf("value of key %d", i)
	}
	src := boltDB(t, dbModel{"b": {KV: kv}})
	// The first element's key size (a leaf element: flags, pos, ksize,
	// vsize) of every leaf of more than one element: bucket b's leaves.
	damageBoltLeaves(t, src, 16+8, []byte{0, 0, 0, 0})
	dir := t.TempDir()
	args := []string{"migrate", "--from", "bbolt", src, filepath.Join(dir, "m.db")}
	code, _, stderr := runCLI(t, args...)
	line := oneLine(t, args, stderr)
	want := "folio: migrate " + src + ": bbolt file " + src + " is damaged: page "
	if code != exitFail || !strings.HasPrefix(line, want) || !strings.HasSuffix(line, "element 0: an empty key") {
		t.Errorf("%v: exit %d, stderr %q; want %d and %q...%q", args, code, line, exitFail, want, "element 0: an empty key")
	}
	noTempNames(t, args, line)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
