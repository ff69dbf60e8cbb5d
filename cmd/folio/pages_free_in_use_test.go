package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// freeInUseDB is churnedDB with its current free list rewritten to name
// one reachable leaf as free too, a leaf whose page before it is free:
// the free extent then runs over the leaf, as a buggy or hostile writer
// leaves it. It returns the path and the leaf.
func freeInUseDB(t *testing.T) (string, page.ID) {
	t.Helper()
	path := churnedDB(t)
	m, slot, free := freePages(t, path)
	var leaf page.ID
	for id, u := range m.runs {
		if u.kind == page.FlagLeaf && u.pages == 1 && free[id-1] && (leaf == 0 || id < leaf) {
			leaf = id
		}
	}
	if leaf == 0 {
		t.Fatalf("no reachable leaf after a free page in %s", path)
	}
	free[leaf] = true
	writeFreeList(t, path, m, slot, free)
	return path, leaf
}

// freePages walks the closed database at path and returns what pages
// found, the current meta page and the set of pages its free list names.
func freePages(t *testing.T, path string) (*pageMap, int, map[page.ID]bool) {
	t.Helper()
	db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := openPageFile(db, path)
	if err != nil {
		t.Fatal(err)
	}
	m := walkPages(pf)
	slot := pf.info.MetaSlot
	pf.Close()
	db.Close()
	free := map[page.ID]bool{}
	for _, e := range m.free {
		for i := range e.Len {
			free[e.Start+page.ID(i)] = true
		}
	}
	return m, slot, free
}

// writeFreeList rewrites the current free list of the file at path, whose
// walk is m and current meta page slot, to hold the pages in free,
// resealing the run and the meta page (1 KiB pages).
func writeFreeList(t *testing.T, path string, m *pageMap, slot int, free map[page.ID]bool) {
	t.Helper()
	var exts []page.Extent
	for id := page.ID(2); id < m.meta.High; id++ {
		if !free[id] {
			continue
		}
		if n := len(exts); n > 0 && exts[n-1].Start+page.ID(exts[n-1].Len) == id {
			exts[n-1].Len++
		} else {
			exts = append(exts, page.Extent{Start: id, Len: 1})
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fl := int(m.meta.Freelist)
	run := b[fl*1024 : (fl+1+int(m.runs[m.meta.Freelist].pages-1))*1024]
	body := run[page.HeaderSize:]
	if page.FreelistSize(exts) > len(body) {
		t.Fatalf("the free list run has no room for %d extents", len(exts))
	}
	clear(body)
	page.EncodeFreelist(body, exts)
	meta := m.meta
	meta.FreelistSum = page.Seal(run)
	meta.FreeDelta = "" // the run holds the whole set now
	page.EncodeMeta(b[slot*1024:(slot+1)*1024], page.ID(slot), &meta)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPagesFreeInUse: a free list naming a reachable page free (which
// check reports as "both (on the free list and in use)") was listed as
// one free extent over the page, e.g. "83-90 free" over leaf 89, with no
// word of the conflict. The leaf is listed as what it is, the free pages
// around it as free, and a problem line names the conflict.
func TestPagesFreeInUse(t *testing.T) {
	path, leaf := freeInUseDB(t)
	code, out, _ := runCLI(t, "check", path)
	if code != exitFail || !strings.Contains(out, fmt.Sprintf("page %d: ", leaf)) || !strings.Contains(out, "both (on the free list and in use)") {
		t.Fatalf("check does not report leaf %d as both free and in use: exit %d:\n%s", leaf, code, out)
	}
	code, out, stderr := runCLI(t, "pages", path)
	if code != exitFail {
		t.Fatalf("pages: exit %d: %s", code, stderr)
	}
	for _, re := range []string{
		fmt.Sprintf(`(?m)^%d +leaf +0 +ok +\d+ +bucket "users"$`, leaf),
		fmt.Sprintf(`(?m)^(\d+-)?%d +free +- +- +- +\d+ pages?$`, leaf-1),
		fmt.Sprintf(`(?m)^- +problem +- +- +- +page %d \(bucket "users"\): on the free list and in use$`, leaf),
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "unreachable") {
		t.Errorf("unreachable pages:\n%s", out)
	}
}
