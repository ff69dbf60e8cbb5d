package folio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

var testPageSize = int64(os.Getpagesize())

// newTestStorage opens a fresh read-write database file in a temporary
// directory, closed when the test ends.
func newTestStorage(t *testing.T, mmapFlags int) (*fileStorage, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s := openFileStorage(f, false, false, mmapFlags)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("closing storage: %v", err)
		}
	})
	return s, path
}

// mustMap maps size bytes of s and closes the view when the test ends,
// unless the test closed it.
func mustMap(t *testing.T, s *fileStorage, size int64) *fileView {
	t.Helper()
	v, err := s.Map(size)
	if err != nil {
		t.Fatalf("Map(%d): %v", size, err)
	}
	fv := v.(*fileView)
	t.Cleanup(func() {
		if err := fv.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("closing view: %v", err)
		}
	})
	return fv
}

// pattern returns n bytes that differ with seed and position.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

func TestFileStorageWriteMapRead(t *testing.T) {
	s, path := newTestStorage(t, 0)
	size := 4 * testPageSize
	if err := s.Grow(size, true); err != nil {
		t.Fatal(err)
	}
	if got := s.Size(); got != size {
		t.Fatalf("Size after Grow(%d) = %d", size, got)
	}
	a, b, c := pattern(1, 100), pattern(2, int(testPageSize)), pattern(3, 5)
	off := testPageSize - 50 // straddles pages
	if err := s.WriteAt([][]byte{a, b, c}, off); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncRange(off, int64(len(a)+len(b)+len(c))); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	copy(want[off:], bytes.Join([][]byte{a, b, c}, nil))

	v := mustMap(t, s, size)
	if got := v.Bytes(); int64(len(got)) != size || !bytes.Equal(got, want) {
		t.Fatalf("mapped bytes differ from those written (len %d)", len(got))
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, want) {
		t.Fatal("file bytes differ from those written")
	}
}

// A view stays valid, and keeps seeing writes, while the storage maps the
// file again larger, grows it, and is closed (invariant 4).
func TestFileStorageViewOutlivesRemapGrowAndClose(t *testing.T) {
	s, _ := newTestStorage(t, 0)
	if err := s.Grow(2*testPageSize, false); err != nil {
		t.Fatal(err)
	}
	first := pattern(9, int(testPageSize))
	if err := s.WriteAt([][]byte{first}, 0); err != nil {
		t.Fatal(err)
	}
	old := mustMap(t, s, 2*testPageSize)

	if err := s.Grow(64*testPageSize, true); err != nil {
		t.Fatal(err)
	}
	bigger := mustMap(t, s, 64*testPageSize)
	if !bytes.Equal(old.Bytes()[:testPageSize], first) {
		t.Fatal("old view changed after Grow and a bigger Map")
	}

	// Both views are shared mappings of the same page cache: a write is
	// visible through each at once, with no remap.
	second := pattern(42, int(testPageSize))
	if err := s.WriteAt([][]byte{second}, testPageSize); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old.Bytes()[testPageSize:], second) {
		t.Fatal("old view does not see a later write")
	}
	if !bytes.Equal(bigger.Bytes()[testPageSize:2*testPageSize], second) {
		t.Fatal("new view does not see a later write")
	}
	last := pattern(7, 10)
	if err := s.WriteAt([][]byte{last}, 63*testPageSize); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bigger.Bytes()[63*testPageSize:][:10], last) {
		t.Fatal("new view does not see a write in the grown part")
	}

	if err := bigger.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old.Bytes()[:testPageSize], first) {
		t.Fatal("old view changed after the storage was closed")
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close of a view: got %v, want os.ErrClosed", err)
	}
	if _, err := s.Map(testPageSize); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Map after Close: got %v, want os.ErrClosed", err)
	}
}

// Map may ask for more than the file holds; the bytes inside the file read
// normally.
func TestFileStorageMapBeyondFile(t *testing.T) {
	s, _ := newTestStorage(t, 0)
	data := pattern(5, 300)
	if err := s.WriteAt([][]byte{data}, 0); err != nil {
		t.Fatal(err)
	}
	v := mustMap(t, s, 1<<30)
	if len(v.Bytes()) != 1<<30 {
		t.Fatalf("len(Bytes) = %d, want %d", len(v.Bytes()), 1<<30)
	}
	if !bytes.Equal(v.Bytes()[:len(data)], data) {
		t.Fatal("mapped bytes differ from those written")
	}

	empty := mustMap(t, s, 0)
	if len(empty.Bytes()) != 0 {
		t.Fatalf("Map(0) has %d bytes", len(empty.Bytes()))
	}
	if _, err := s.Map(-1); err == nil {
		t.Fatal("Map(-1) succeeded")
	}
}

// More buffers than one pwritev takes, some of them empty, land back to
// back.
// WriteAt lands every byte where it belongs whether the run is written one
// buffer per call (fewer than bulkRun buffers on Linux) or vectored, with
// empty buffers anywhere, and leaves the caller's buffers alone.
func TestFileStorageWriteAtManyBuffers(t *testing.T) {
	for _, n := range []int{1, 2, 255, 256, 257, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, path := newTestStorage(t, 0)
			var bufs [][]byte
			for i := range n {
				bufs = append(bufs, pattern(byte(i), i%37)) // every 37th is empty
			}
			bufs = append(bufs, nil, pattern(1, 9000), nil)
			kept := append([][]byte(nil), bufs...)
			const off = 12345
			if err := s.WriteAt(bufs, off); err != nil {
				t.Fatal(err)
			}
			for i := range bufs {
				if !bytes.Equal(bufs[i], kept[i]) || len(bufs[i]) != len(kept[i]) {
					t.Fatalf("WriteAt modified the caller's buffer %d", i)
				}
			}
			wantWritten(t, path, off, bufs)
		})
	}
	// Page-sized buffers, so a bulk run is cut into several calls: the
	// cuts fall around buffers bigger and smaller than a call's budget.
	t.Run("pages", func(t *testing.T) {
		s, path := newTestStorage(t, 0)
		ps, chunk := int(testPageSize), 256<<10 // bulkChunk on Linux
		var bufs [][]byte
		for i := range 700 {
			n := ps
			switch i {
			case 100:
				n = 1 << 20 // bigger than a call's budget: a call of its own
			case 101, 300:
				n = chunk - ps/2 // a call's budget, nearly
			case 500:
				n = 0
			}
			bufs = append(bufs, pattern(byte(i), n))
		}
		off := 3 * ps
		if err := s.WriteAt(bufs, int64(off)); err != nil {
			t.Fatal(err)
		}
		wantWritten(t, path, off, bufs)
	})

	s, _ := newTestStorage(t, 0)

	if err := s.WriteAt(nil, 0); err != nil {
		t.Fatalf("WriteAt of no buffers: %v", err)
	}
	if err := s.WriteAt([][]byte{{1}}, -1); err == nil {
		t.Fatal("WriteAt at a negative offset succeeded")
	}
}

// wantWritten fails t unless the file at path holds off zero bytes and
// then bufs, back to back, and nothing more.
func wantWritten(t *testing.T, path string, off int, bufs [][]byte) {
	t.Helper()
	want := append(make([]byte, off), bytes.Join(bufs, nil)...)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file has %d bytes, differing from the %d written", len(got), len(want))
	}
}

func TestFileStorageSyncRange(t *testing.T) {
	s, _ := newTestStorage(t, 0)
	size := 16 * testPageSize
	if err := s.Grow(size, false); err != nil {
		t.Fatal(err)
	}
	// Before any Map: fdatasync.
	if err := s.SyncRange(0, size); err != nil {
		t.Fatalf("SyncRange with no mapping: %v", err)
	}
	if err := s.WriteAt([][]byte{pattern(3, int(size))}, 0); err != nil {
		t.Fatal(err)
	}
	mustMap(t, s, 8*testPageSize)
	for _, r := range []struct{ off, n int64 }{
		{0, testPageSize},                       // aligned
		{100, 1},                                // one unaligned byte
		{testPageSize - 1, 2},                   // across a page boundary
		{3*testPageSize + 17, 4 * testPageSize}, // unaligned both ends
		{0, 8 * testPageSize},                   // the whole mapping
		{7 * testPageSize, 2 * testPageSize},    // past the mapping: fdatasync
		{12 * testPageSize, testPageSize},       // wholly past it: fdatasync
		{5, 0},                                  // nothing
	} {
		if err := s.SyncRange(r.off, r.n); err != nil {
			t.Errorf("SyncRange(%d, %d): %v", r.off, r.n, err)
		}
	}
	if err := s.SyncRange(-1, 10); err == nil {
		t.Error("SyncRange at a negative offset succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncRange(0, testPageSize); !errors.Is(err, os.ErrClosed) {
		t.Errorf("SyncRange after Close: got %v, want os.ErrClosed", err)
	}
	if err := s.WriteAt([][]byte{{1}}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteAt after Close: got %v, want os.ErrClosed", err)
	}
}

func TestFileStorageGrowTruncate(t *testing.T) {
	for _, noGrowSync := range []bool{false, true} {
		t.Run("noGrowSync="+strconv.FormatBool(noGrowSync), func(t *testing.T) {
			s, path := newTestStorage(t, 0)
			s.noGrowSync = noGrowSync
			check := func(want int64) {
				t.Helper()
				if got := s.Size(); got != want {
					t.Fatalf("Size = %d, want %d", got, want)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != want {
					t.Fatalf("file is %d bytes, want %d", fi.Size(), want)
				}
			}
			check(0)
			if err := s.Grow(10*testPageSize, true); err != nil {
				t.Fatal(err)
			}
			check(10 * testPageSize)
			if err := s.Grow(3*testPageSize, true); err != nil {
				t.Fatal(err)
			}
			check(10 * testPageSize) // Grow never shrinks
			if err := s.Grow(10*testPageSize+1, false); err != nil {
				t.Fatal(err)
			}
			check(10*testPageSize + 1)
			if err := s.Truncate(2 * testPageSize); err != nil {
				t.Fatal(err)
			}
			check(2 * testPageSize)
		})
	}
}

func TestFileStorageReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	data := pattern(8, 1000)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := openFileStorage(f, true, false, 0)
	defer s.Close()
	v, err := s.Map(int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Bytes(), data) {
		t.Fatal("mapped bytes differ from the file")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if s.cur != nil {
		t.Error("read-only storage keeps a mapping it will never sync through")
	}
	for name, err := range map[string]error{
		"WriteAt":   s.WriteAt([][]byte{{1}}, 0),
		"SyncRange": s.SyncRange(0, 1),
		"Grow":      s.Grow(1<<20, true),
		"Truncate":  s.Truncate(0),
	} {
		if !errors.Is(err, errReadOnlyFile) {
			t.Errorf("%s on a read-only storage: got %v, want errReadOnlyFile", name, err)
		}
	}
	if s.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", s.Size(), len(data))
	}
}

// Views made, read and closed by many goroutines while the storage remaps
// and syncs through its current mapping: the reference counting must never
// unmap a mapping in use (that would fault), which -race and the fault
// itself would show.
func TestFileStorageConcurrentMapSync(t *testing.T) {
	s, _ := newTestStorage(t, 0)
	const pages = 64
	if err := s.Grow(pages*testPageSize, false); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAt([][]byte{pattern(1, int(pages*testPageSize))}, 0); err != nil {
		t.Fatal(err)
	}
	want := pattern(1, int(testPageSize))

	var wg sync.WaitGroup
	views := make(chan *fileView)
	for range 4 {
		wg.Go(func() {
			for v := range views {
				if !bytes.Equal(v.Bytes()[:testPageSize], want) {
					t.Error("a view read the wrong bytes")
				}
				if err := v.Close(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	var syncer sync.WaitGroup
	syncer.Go(func() {
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.SyncRange((i%pages)*testPageSize, testPageSize); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 300 {
		v, err := s.Map(int64(1+i%pages) * testPageSize)
		if err != nil {
			t.Fatal(err)
		}
		views <- v.(*fileView)
	}
	close(views)
	wg.Wait()
	close(stop)
	syncer.Wait()
}

// smapsEntry returns the /proc/self/smaps entry of the mapping that starts
// at addr: its header line (range, perms, offset, device, inode, path) and
// its "Key: value" lines.
func smapsEntry(t *testing.T, addr uintptr) (header string, fields map[string]string) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := strconv.FormatUint(uint64(addr), 16) + "-"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		key, value, ok := strings.Cut(line, ":")
		isHeader := !ok || strings.Contains(key, " ") // "a-b perms ..." vs "Rss:  4 kB"
		switch {
		case isHeader && header != "":
			return header, fields // the next mapping starts
		case isHeader && strings.HasPrefix(line, want):
			header, fields = line, map[string]string{}
		case !isHeader && header != "":
			fields[key] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if header == "" {
		t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	}
	return header, fields
}

// hasVmFlag reports whether the smaps VmFlags value holds flag.
func hasVmFlag(fields map[string]string, flag string) bool {
	for _, f := range strings.Fields(fields["VmFlags"]) {
		if f == flag {
			return true
		}
	}
	return false
}

// The mapping SyncRange msyncs through must really be shared (VM_SHARED,
// "sh" in VmFlags), or msync syncs nothing and still succeeds. A MAP_SHARED
// mapping of an O_RDONLY descriptor is not: the kernel drops VM_SHARED, yet
// smaps' perms column still says "s" (it shows VM_MAYSHARE), which is why
// the test reads VmFlags. The read-only half shows the check can fail.
func TestFileStorageMappingIsShared(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("VmFlags come from Linux's /proc/self/smaps; on %s msync is not what makes the data durable (SyncRange is fsync)", runtime.GOOS)
	}
	s, path := newTestStorage(t, 0)
	if err := s.Grow(4*testPageSize, false); err != nil {
		t.Fatal(err)
	}
	mustMap(t, s, 4*testPageSize)
	m := s.acquireCur()
	defer m.release()
	header, fields := smapsEntry(t, uintptr(unsafe.Pointer(&m.data[0])))
	if _, ok := fields["VmFlags"]; !ok {
		t.Skip("this kernel's smaps has no VmFlags (before Linux 3.8)")
	}
	if !hasVmFlag(fields, "sh") {
		t.Fatalf("the mapping SyncRange msyncs through is not shared; msync would sync nothing:\n%s\nVmFlags: %s", header, fields["VmFlags"])
	}
	if !hasVmFlag(fields, "mw") || hasVmFlag(fields, "wr") {
		t.Errorf("want a read-only mapping of a writable descriptor (no wr, mw): VmFlags: %s", fields["VmFlags"])
	}

	// The trap: the same mapping made from an O_RDONLY descriptor.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ro := openFileStorage(f, true, false, 0)
	defer ro.Close()
	v, err := ro.Map(4 * testPageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	header, fields = smapsEntry(t, uintptr(unsafe.Pointer(&v.Bytes()[0])))
	if hasVmFlag(fields, "sh") {
		t.Errorf("a MAP_SHARED mapping of an O_RDONLY descriptor is shared after all, so the check above proves less than it claims:\n%s\nVmFlags: %s", header, fields["VmFlags"])
	}
}

func TestFlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Separate opens are separate open file descriptions, so their flocks
	// conflict as another process's would.
	open := func() *os.File {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b, c := open(), open(), open()
	const short = 120 * time.Millisecond

	// Shared locks coexist and keep an exclusive one out.
	if err := flock(a, false, short); err != nil {
		t.Fatal(err)
	}
	if err := flock(b, false, short); err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	if err := flock(c, true, short); !errors.Is(err, errLockTimeout) {
		t.Fatalf("exclusive lock under shared ones: got %v, want errLockTimeout", err)
	}
	if err := flock(c, true, -1); !errors.Is(err, errLockTimeout) {
		t.Fatalf("exclusive lock, one try: got %v, want errLockTimeout", err)
	}
	for _, f := range []*os.File{a, b} {
		if err := funlock(f); err != nil {
			t.Fatal(err)
		}
	}

	// An exclusive lock keeps both kinds out.
	if err := flock(c, true, short); err != nil {
		t.Fatalf("exclusive lock once free: %v", err)
	}
	if err := flock(a, false, short); !errors.Is(err, errLockTimeout) {
		t.Fatalf("shared lock under an exclusive one: got %v, want errLockTimeout", err)
	}
	if err := flock(b, true, short); !errors.Is(err, errLockTimeout) {
		t.Fatalf("exclusive lock under an exclusive one: got %v, want errLockTimeout", err)
	}

	// With no timeout, flock waits until the holder lets go.
	done := make(chan error)
	go func() { done <- flock(a, true, 0) }()
	if err := funlock(c); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting exclusive lock: %v", err)
	}

	// Closing the holder's file releases its lock.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := flock(b, true, short); err != nil {
		t.Fatalf("exclusive lock after the holder closed: %v", err)
	}
	if err := flock(a, true, short); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("flock of a closed file: got %v, want os.ErrClosed", err)
	}
}
