package btree

import (
	"errors"
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

var errRefused = errors.New("refused")

// refuseBuckets refuses a change to a key that holds a bucket, as the
// transaction's checks do.
func refuseBuckets(exists bool, flags uint32) error {
	if exists && flags&page.LeafBucket != 0 {
		return errRefused
	}
	return nil
}

// A Put that its check refuses takes back the nodes its descent copied:
// the tree stays clean if it was, spills only what accepted writes
// changed, and a later write (an append at the right edge included) goes
// into the tree, not into a copy that was taken back.
func TestPutRefusedCopiesNothing(t *testing.T) {
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }
	const n = 2000 // three levels of 1 KiB pages
	for i := 0; i < n; i++ {
		var flags uint32
		if i%100 == 99 {
			flags = page.LeafBucket
		}
		if err := tr.Put(key(i), []byte("value"), flags, nil); err != nil {
			t.Fatal(err)
		}
	}
	commitTree(t, tr, m)
	root, sum := tr.Root()

	// On a clean tree, refusals anywhere leave it clean.
	tr = New(m, root, sum)
	for i := 99; i < n; i += 100 {
		if err := tr.Put(key(i), []byte("v"), 0, refuseBuckets); !errors.Is(err, errRefused) {
			t.Fatalf("Put %s: %v, want %v", key(i), err, errRefused)
		}
		if _, err := tr.Delete(key(i), refuseBuckets); !errors.Is(err, errRefused) {
			t.Fatalf("Delete %s: %v, want %v", key(i), err, errRefused)
		}
	}
	if tr.Dirty() {
		t.Error("refused writes left the tree dirty")
	}

	// A refusal beside accepted writes spills what those alone spill.
	spilled := func(refuse bool) int {
		t.Helper()
		tr := New(m, root, sum)
		if err := tr.Put(key(0), []byte("new"), 0, refuseBuckets); err != nil {
			t.Fatal(err)
		}
		if refuse {
			for _, i := range []int{99, 1099, n - 1} {
				if err := tr.Put(key(i), []byte("v"), 0, refuseBuckets); !errors.Is(err, errRefused) {
					t.Fatalf("Put %s: %v, want %v", key(i), err, errRefused)
				}
			}
		}
		if err := tr.Rebalance(); err != nil {
			t.Fatal(err)
		}
		if err := tr.Spill(); err != nil {
			t.Fatal(err)
		}
		written := len(m.dirty)
		m.dirty, m.pending = map[page.ID][]byte{}, map[page.ID]int{} // not committed
		return written
	}
	if with, without := spilled(true), spilled(false); with != without {
		t.Errorf("one Put and three refused ones wrote %d runs, the Put alone %d", with, without)
	}

	// Refused at the right edge, then an append there: the append must
	// not go to the leaf the refusal took back (the last path).
	tr = New(m, root, sum)
	if err := tr.Put(key(0), []byte("new"), 0, refuseBuckets); err != nil {
		t.Fatal(err)
	}
	if err := tr.Put(key(n-1), []byte("v"), 0, refuseBuckets); !errors.Is(err, errRefused) {
		t.Fatalf("Put %s: %v, want %v", key(n-1), err, errRefused)
	}
	if err := tr.Put(key(n), []byte("appended"), 0, refuseBuckets); err != nil {
		t.Fatal(err)
	}
	commitTree(t, tr, m)
	root, sum = tr.Root()
	tr = New(m, root, sum)
	got, _ := walkAll(t, tr)
	for k, want := range map[string]string{string(key(0)): "new", string(key(n)): "appended", string(key(n - 2)): "value"} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if len(got) != n+1 {
		t.Errorf("%d keys, want %d", len(got), n+1)
	}
}

// A tree whose only writes were refused gives its inode chunks back to
// the pool when spilled, as one with accepted writes does.
func TestRefusedPutReleasesInodes(t *testing.T) {
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }
	for i := 0; i < 2000; i++ {
		if err := tr.Put(key(i), []byte("value"), page.LeafBucket, nil); err != nil {
			t.Fatal(err)
		}
	}
	commitTree(t, tr, m)
	root, sum := tr.Root()
	tr = New(m, root, sum)
	if err := tr.Put(key(1500), []byte("v"), 0, refuseBuckets); !errors.Is(err, errRefused) {
		t.Fatalf("Put: %v, want %v", err, errRefused)
	}
	if len(tr.w.own.chunks) == 0 {
		t.Fatal("the refused Put's descent cut no inodes: the test tests nothing")
	}
	if err := tr.Spill(); err != nil {
		t.Fatal(err)
	}
	if len(tr.w.own.chunks) != 0 || tr.w.own.inodes != nil {
		t.Errorf("after Spill the tree keeps %d inode chunks", len(tr.w.own.chunks))
	}
}
