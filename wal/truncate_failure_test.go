package wal

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// openInDir counts this process's descriptors open on files in dir
// (Linux; -1 elsewhere).
func openInDir(t *testing.T, dir string) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// TestTruncateFailure: a Truncate that fails partway (here the directory
// sync after its first rename) keeps the segments it had not recycled
// yet: Close closes their files, and the next Truncate recycles them,
// oldest first. Before, they left the log's list at once: their files
// stayed open until the process ended, and stayed live on disk, so that a
// later Truncate recycled newer segments around them.
func TestTruncateFailure(t *testing.T) {
	dir := t.TempDir()
	eio := &os.PathError{Op: "sync", Path: dir, Err: syscall.EIO}
	var armed atomic.Bool
	dirSync := func(string) error {
		if armed.CompareAndSwap(true, false) {
			return eio
		}
		return nil
	}
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: true}
	l, err := open(dir, opts, noDataSync, dirSync)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := range 100 {
		want = append(want, payload(i+1, 500))
		appendT(t, l, want[i])
	}
	syncT(t, l)
	live0, _ := segFiles(t, dir)

	armed.Store(true)
	if err := l.Truncate(90); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Truncate with a failing directory sync: %v, want EIO", err)
	}
	checkRecords(t, replayAll(t, l, 91), 91, want[90:])
	if err := l.Truncate(90); err != nil {
		t.Fatalf("Truncate again: %v", err)
	}
	live1, _ := segFiles(t, dir)
	if len(live1) >= len(live0)-1 || len(live1) > 3 {
		t.Fatalf("%d live segments after the second Truncate(90), %d before the first: the failed one's left behind", len(live1), len(live0))
	}
	checkRecords(t, replayAll(t, l, 91), 91, want[90:])
	closeLog(t, l)
	if n := openInDir(t, dir); n > 0 {
		t.Fatalf("%d files of the log still open after Close", n)
	}
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	checkRecords(t, replayAll(t, l, 91), 91, want[90:])
}

// TestUntruncate: the segments a failed Truncate puts back get their
// first file opened again if the failure closed it; if that cannot be
// done, truncation stops until a reopen (a later one would recycle newer
// segments around it), and no file stays open.
func TestUntruncate(t *testing.T) {
	for _, gone := range []bool{false, true} {
		dir := t.TempDir()
		opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
		l := openLog(t, dir, opts)
		var want [][]byte
		for i := range 40 {
			want = append(want, payload(i+1, 500))
			appendT(t, l, want[i])
		}
		syncT(t, l)
		l.mu.Lock()
		old := l.segs[:2:2]
		l.segs = l.segs[2:]
		l.mu.Unlock()
		old[0].f.Close()
		if gone {
			if err := os.Rename(old[0].path, old[0].path+".aside"); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.untruncate(old, true, eioErr); !errors.Is(err, eioErr) {
			t.Fatalf("untruncate: %v", err)
		}
		err := l.Truncate(40)
		if gone != (err != nil) {
			t.Fatalf("gone %v: Truncate after untruncate: %v", gone, err)
		}
		closeLog(t, l)
		if n := openInDir(t, dir); n > 0 {
			t.Fatalf("gone %v: %d files of the log still open after Close", gone, n)
		}
		if gone {
			continue
		}
		l = openLog(t, dir, opts)
		checkRecords(t, replayAll(t, l, 40), 40, want[39:])
		closeLog(t, l)
	}
}

var eioErr = &os.PathError{Op: "close", Path: "x", Err: syscall.EIO}
