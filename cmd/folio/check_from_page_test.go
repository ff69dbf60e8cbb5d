package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// TestCheckFromPage: check --from-page checks the tree under one page
// (folio.WithPageId): damage under it is a problem naming the page, a
// sound subtree is ok, and an id naming no tree fails the command (exit
// 1) without calling the file damaged.
func TestCheckFromPage(t *testing.T) {
	path, bad := damagedDB(t)
	db, err := folio.Open(path, 0, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root page.ID
	err = db.View(func(tx *folio.Tx) error {
		root = tx.Bucket([]byte("users")).Root()
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil || root == 0 || root == bad {
		t.Fatalf("users' root page %d (damaged leaf %d): %v", root, bad, err)
	}
	// A leaf of users other than the damaged one.
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sound := page.ID(0)
	for id := 2; (id+1)*1024 <= len(img) && sound == 0; id++ {
		p := img[id*1024 : (id+1)*1024]
		if page.ID(id) != bad && page.PageFlags(p) == page.FlagLeaf && page.PageID(p) == page.ID(id) && bytes.Contains(p, []byte("user299")) {
			sound = page.ID(id)
		}
	}
	if sound == 0 {
		t.Fatal("no other leaf holds user299")
	}

	code, out, stderr := runCLI(t, "check", "--from-page", fmt.Sprint(root), path)
	if code != exitFail || !strings.Contains(out, fmt.Sprintf("page %d: ", bad)) {
		t.Errorf("check --from-page %d (users' root): exit %d, %q, %q; want %d naming page %d", root, code, out, stderr, exitFail, bad)
	}
	code, out, stderr = runCLI(t, "check", "--from-page", fmt.Sprint(sound), path)
	if want := fmt.Sprintf("ok: the tree under page %d checked at txid ", sound); code != exitOK || !strings.HasPrefix(out, want) {
		t.Errorf("check --from-page %d (a sound leaf): exit %d, %q, %q; want %q", sound, code, out, stderr, want)
	}
	code, out, _ = runCLI(t, "check", "--json", "--from-page", fmt.Sprint(sound), path)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || !res.OK || res.FromPage == nil || *res.FromPage != uint64(sound) || res.Pages != nil {
		t.Errorf("check --json --from-page %d: exit %d, %v, %s", sound, code, err, out)
	}
	for _, id := range []string{"1", "3000000"} {
		code, out, stderr = runCLI(t, "check", "--from-page", id, path)
		if code != exitFail || out != "" || !strings.Contains(stderr, "page "+id+": id out of range [2, ") || strings.Contains(stderr, "problem") {
			t.Errorf("check --from-page %s: exit %d, %q, %q; want %d, nothing on stdout, the range named", id, code, out, stderr, exitFail)
		}
	}
}
