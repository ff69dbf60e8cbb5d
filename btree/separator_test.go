package btree

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/page"
)

func TestSeparator(t *testing.T) {
	for _, tc := range []struct{ prev, next, want string }{
		{"apple", "banana", "b"},
		{"abc", "abd", "abd"},
		{"abc", "abcd", "abcd"}, // prev a prefix of next
		{"", "a", "a"},
		{"ab\x00", "ab\x01\x05", "ab\x01"},
		{"tenant-7/user-19", "tenant-7/user-2", "tenant-7/user-2"},
		{"tenant-7/user-19", "tenant-7/user-20", "tenant-7/user-2"},
	} {
		got := separator([]byte(tc.prev), []byte(tc.next))
		if string(got) != tc.want {
			t.Errorf("separator(%q, %q) = %q, want %q", tc.prev, tc.next, got, tc.want)
		}
		if bytes.Compare([]byte(tc.prev), got) >= 0 || bytes.Compare(got, []byte(tc.next)) > 0 {
			t.Errorf("separator(%q, %q) = %q is not in (prev, next]", tc.prev, tc.next, got)
		}
	}
}

// Leaf splits give their parents short keys, and those keys survive the
// later rewrites of the leaves (spillChildren keeps a child's key) while
// the tree stays sound: random 16-byte keys over many commits, each
// touching most leaves, then every branch key that points at a leaf.
func TestShortSeparatorsStay(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 13))
	m := newMemPages(1024)
	tr := New(m, 0, 0)
	want := map[string]string{}
	key := func() []byte {
		k := make([]byte, 16)
		binary.BigEndian.PutUint64(k, rng.Uint64())
		binary.BigEndian.PutUint64(k[8:], rng.Uint64())
		return k
	}
	for commit := range 30 {
		for range 300 {
			k, v := key(), []byte{byte(commit)}
			if err := tr.Put(k, v, 0, nil); err != nil {
				t.Fatal(err)
			}
			want[string(k)] = string(v)
		}
		commitTree(t, tr, m)
	}
	checkContents(t, tr, want)
	// Keys of branch elements (other than the first) pointing at leaves.
	var keys, bytesTotal int
	tr.Walk(true, Walker{Page: func(id page.ID, n int, kind page.Flags, depth int) {
		if kind != page.FlagBranch {
			return
		}
		p := m.file[int(id)*m.ps : (int(id)+n)*m.ps]
		count := int(page.PageCount(p))
		child, _ := page.BranchChild(p, 0)
		if page.PageFlags(m.file[int(child)*m.ps:]) != page.FlagLeaf {
			return
		}
		for i := 1; i < count; i++ {
			k, _ := page.BranchKey(p, i)
			keys++
			bytesTotal += len(k)
		}
	}})
	if keys < 100 {
		t.Fatalf("only %d branch keys over leaves", keys)
	}
	// 9,000 random keys in ~500 leaves: about 2 bytes tell neighbours
	// apart. Keys reverting to full first keys on rewrite would average 16.
	if avg := float64(bytesTotal) / float64(keys); avg > 4 {
		t.Fatalf("branch keys over leaves average %.1f bytes, want short separators (<= 4)", avg)
	}
}
