package folio

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTryMapDoesNotPopulate: Open's trial mapping (tryMap) leaves
// MAP_POPULATE out: with it, the trial of an InitialMmapSize read the
// whole mapping in before the DB's own mapping did it again. Counted in
// this thread's page faults: populating 64 MiB of a sparse file took
// ~440 here, the bare map none.
func TestTryMapDoesNotPopulate(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 64 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	faults := func() int64 {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
			t.Fatal(err)
		}
		return int64(ru.Minflt) + int64(ru.Majflt)
	}
	// The measure measures: a populating map of the same file faults.
	before := faults()
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		t.Fatal(err)
	}
	populated := faults() - before
	if err := unix.Munmap(data); err != nil {
		t.Fatal(err)
	}
	if populated < 128 {
		t.Fatalf("a MAP_POPULATE map of 64 MiB took %d faults: this count cannot tell", populated)
	}
	before = faults()
	if err := tryMap(f, size, unix.MAP_POPULATE); err != nil {
		t.Fatal(err)
	}
	if n := faults() - before; n > populated/4 {
		t.Errorf("tryMap with MAP_POPULATE took %d faults (a populating map %d): it read the mapping in", n, populated)
	}
}
