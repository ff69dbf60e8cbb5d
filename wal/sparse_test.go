package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// recoverDir runs recovery on the log in dir as Open would, without
// changing anything, and returns what it found.
func recoverDir(t *testing.T, dir string, opts Options) recovery {
	t.Helper()
	l := &Log{dir: dir, opts: opts.normalize(), nextNum: 1}
	files, err := l.readDir()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range files {
			s.f.Close()
		}
	}()
	rec, err := recoverLog(files, false)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestHugeSparseSegment: a segment file extended to many GiB (truncate -s:
// a hole of zeros) costs recovery a few reads, not a read of every zero:
// the tail scan skips holes, and reads no segment past the largest this
// log makes. Nothing whole is lost, appends stay within that size, and a
// free segment that big is not kept for reuse. Before, Open read all
// 64 GiB (at ~0.5 GB/s here), and appended into the extension.
func TestHugeSparseSegment(t *testing.T) {
	const huge = 64 << 30
	for _, which := range []string{"last", "middle"} {
		t.Run(which, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 64 << 10, NoCompression: true, MaxFreeSegments: 4, noSpares: true}
			want := buildLog(t, dir, opts, 40, 3000, true)
			live, _ := segFiles(t, dir)
			if len(live) < 2 {
				t.Fatalf("%d segments, want several", len(live))
			}
			seg := live[len(live)-1]
			if which == "middle" {
				seg = live[0]
			}
			if err := os.Truncate(seg, huge); err != nil {
				t.Skipf("no sparse file of %d bytes here: %v", int64(huge), err)
			}
			free := filepath.Join(dir, freeName(1000))
			if err := os.WriteFile(free, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(free, huge); err != nil {
				t.Fatal(err)
			}

			rec := recoverDir(t, dir, opts)
			if rec.next != uint64(len(want))+1 {
				t.Fatalf("recovery ends at lsn %d, want %d", rec.next-1, len(want))
			}
			if runtime.GOOS == "linux" && rec.read > 8<<20 {
				t.Fatalf("recovery read %d bytes of a log of %d records of 3 KiB", rec.read, len(want))
			}

			l := openLog(t, dir, opts)
			checkRecords(t, replayAll(t, l, 1), 1, want)
			for _, s := range l.segs {
				if s.size > l.maxSegmentSize() {
					t.Fatalf("segment %d taken as %d bytes, more than %d", s.num, s.size, l.maxSegmentSize())
				}
			}
			if _, err := os.Stat(free); !os.IsNotExist(err) {
				t.Fatalf("a free segment of %d bytes was kept for reuse (%v)", int64(huge), err)
			}
			want = append(want, payload(100, 3000))
			appendT(t, l, want[len(want)-1])
			closeLog(t, l)
			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			checkRecords(t, replayAll(t, l, 1), 1, want)
		})
	}
}

// zeroFile reads as a file of size bytes, zeros but for head at 0.
type zeroFile struct {
	head []byte
	size int64
}

func (z zeroFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.size-off))
	clear(p[:n])
	if off < int64(len(z.head)) {
		copy(p[:n], z.head[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestFrameLengthBound: a frame header claiming a payload over
// MaxRecordSize (which Append never writes) ends the scan without its
// payload being read. Before, in a segment big enough to hold it (a
// SegmentSize over 1 GiB), the scan read and held all of it first.
func TestFrameLengthBound(t *testing.T) {
	head := make([]byte, segHeaderSize+frameHeaderSize)
	putSegHeader(head, 1, 1, testSalt(1))
	putFrameHeader(head[segHeaderSize:], frameHeader{length: MaxRecordSize + 8, lsn: 1, segment: 1, unsynced: 1}, testSalt(1))
	var sr segReader
	sr.reset(zeroFile{head, 4 << 30}, 4<<30)
	st, err := scanFrames(&sr, 1, testSalt(1), segHeaderSize, 4<<30, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.off != segHeaderSize || !errors.Is(st.why, errPayloadSize) {
		t.Fatalf("scan stopped at %d: %v, want %d: %v", st.off, st.why, segHeaderSize, errPayloadSize)
	}
	if sr.read > 1<<20 {
		t.Fatalf("the scan read %d bytes", sr.read)
	}
}

// TestHugeFrameClaimBoundedMemory: a frame header claiming a payload of
// hundreds of MiB in a sparse segment (a crafted or damaged file) costs
// recovery a window of memory, not the claimed size: it checks the
// payload's checksum a window at a time. Before, Open allocated the whole
// claim to read it.
func TestHugeFrameClaimBoundedMemory(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, NoCompression: true, noSpares: true}
	want := buildLog(t, dir, opts, 10, 1000, true)
	rec := recoverDir(t, dir, opts)
	last := rec.chain[len(rec.chain)-1]
	const claim = 64 << 20
	var hdr [frameHeaderSize]byte
	putFrameHeader(hdr[:], frameHeader{payloadSum: 1, length: claim, lsn: rec.next, segment: uint32(last.num), unsynced: 1}, last.salt)
	f, err := os.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(hdr[:], last.end); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(last.end + frameSize(claim)); err != nil {
		t.Skipf("no sparse file here: %v", err)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec = recoverDir(t, dir, opts)
	runtime.ReadMemStats(&after)
	if rec.next != uint64(len(want))+1 {
		t.Fatalf("recovery ends at lsn %d, want %d (the forged frame's checksum fails)", rec.next-1, len(want))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Fatalf("recovery allocated %d MiB for a frame claiming %d MiB", got>>20, claim>>20)
	}
}
