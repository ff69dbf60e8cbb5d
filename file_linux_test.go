package folio

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// consumed is pwritevFull's step after a short write; short writes are hard
// to provoke from a test, so its cases are checked here.
func TestConsumed(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	for _, tc := range []struct {
		name string
		bufs [][]byte
		n    int
		want []string
	}{
		{"nothing written", [][]byte{b("ab"), b("cd")}, 0, []string{"ab", "cd"}},
		{"empty front dropped", [][]byte{{}, nil, b("ab")}, 0, []string{"ab"}},
		{"first whole", [][]byte{b("ab"), b("cd")}, 2, []string{"cd"}},
		{"into the first", [][]byte{b("abc"), b("de")}, 1, []string{"bc", "de"}},
		{"into the second", [][]byte{b("ab"), b("cde"), b("f")}, 4, []string{"e", "f"}},
		{"empties between", [][]byte{b("ab"), {}, {}, b("cd")}, 3, []string{"d"}},
		{"all", [][]byte{b("ab"), b("cd"), {}}, 4, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.bufs)
			got, owned := consumed(tc.bufs, tc.n, false)
			var gotS []string
			for _, g := range got {
				gotS = append(gotS, string(g))
			}
			if !slices.Equal(gotS, tc.want) {
				t.Fatalf("consumed(%d) = %q, want %q", tc.n, gotS, tc.want)
			}
			for i := range orig {
				if len(tc.bufs[i]) != len(orig[i]) {
					t.Fatalf("consumed modified the caller's slice at %d", i)
				}
			}
			// A second trim of an owned result trims in place.
			if owned && len(got) > 0 && len(got[0]) > 1 {
				again, _ := consumed(got, 1, true)
				if &again[0] != &got[0] {
					t.Fatal("consumed copied a slice it owns")
				}
			}
		})
	}
}

// Options.MmapFlags reach mmap: with MAP_POPULATE the pages are in the
// mapping (resident, counted in Rss) before anything touches them.
func TestFileStorageMmapFlags(t *testing.T) {
	rss := func(flags int) int64 {
		t.Helper()
		s, _ := newTestStorage(t, flags)
		if err := s.WriteAt([][]byte{pattern(1, int(64*testPageSize))}, 0); err != nil {
			t.Fatal(err)
		}
		v := mustMap(t, s, 64*testPageSize)
		_, fields := smapsEntry(t, uintptr(unsafe.Pointer(&v.Bytes()[0])))
		kb, err := strconv.ParseInt(strings.TrimSuffix(fields["Rss"], " kB"), 10, 64)
		if err != nil {
			t.Fatalf("smaps Rss %q: %v", fields["Rss"], err)
		}
		return kb << 10
	}
	if got := rss(0); got != 0 {
		t.Errorf("Rss of an untouched mapping = %d, want 0", got)
	}
	if got := rss(unix.MAP_POPULATE); got != 64*testPageSize {
		t.Errorf("Rss of a MAP_POPULATE mapping = %d, want %d", got, 64*testPageSize)
	}
}

// Grow reserves the file's blocks (fallocate) rather than leaving a hole,
// where the file system supports it.
func TestFileStorageGrowAllocates(t *testing.T) {
	s, path := newTestStorage(t, 0)
	const size = 1 << 20
	if err := s.Grow(size, true); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Fatalf("size after Grow = %d, want %d", st.Size, size)
	}
	// Confirm the file system has fallocate before expecting blocks.
	probe, err := os.CreateTemp(t.TempDir(), "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := unix.Fallocate(int(probe.Fd()), 0, 0, 4096); err != nil {
		t.Skipf("the test directory's file system has no fallocate: %v", err)
	}
	if st.Blocks*512 < size {
		t.Errorf("Grow left a hole: %d bytes allocated of %d", st.Blocks*512, size)
	}
}

// TestFileStorageWriteAtAllocs pins WriteAt at zero allocations for a run
// shorter than bulkRun: a commit makes one call per run of pages, and a
// closure handed to RawConn.Control cost four allocations a call. (A bulk
// run allocates in unix.Pwritev, which builds its iovec array: a dozen
// allocations per 256 pages, left alone.)
func TestFileStorageWriteAtAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates (and sync.Pool drops items); run without -race")
	}
	s, path := newTestStorage(t, 0)
	bufs := [][]byte{pattern(1, 4096), pattern(2, 4096), pattern(3, 100)}
	var err error
	if n := testing.AllocsPerRun(50, func() { err = s.WriteAt(bufs, 8192) }); n != 0 {
		t.Errorf("WriteAt: %v allocs, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
	wantWritten(t, path, 8192, bufs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAt(bufs, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("WriteAt after Close: %v, want os.ErrClosed", err)
	}
}
