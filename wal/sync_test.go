package wal

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

func TestConcurrentSyncTo(t *testing.T) {
	const writers, each = 8, 200
	l := openLog(t, t.TempDir(), Options{SegmentSize: 64 << 10})
	defer closeLog(t, l)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := make([]byte, 8+w*100)
				binary.LittleEndian.PutUint32(p, uint32(w))
				binary.LittleEndian.PutUint32(p[4:], uint32(i))
				lsn, err := l.Append(p)
				if err == nil {
					err = l.SyncTo(lsn)
				}
				if err != nil {
					errs <- err
					return
				}
				if got := l.SyncedLSN(); got < lsn {
					t.Errorf("SyncTo(%d) returned with SyncedLSN %d", lsn, got)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	next := make([]uint32, writers)
	got := replayAll(t, l, 1)
	if len(got) != writers*each {
		t.Fatalf("replayed %d records, want %d", len(got), writers*each)
	}
	for _, r := range got {
		w, i := binary.LittleEndian.Uint32(r.payload), binary.LittleEndian.Uint32(r.payload[4:])
		if i != next[w] {
			t.Fatalf("writer %d: record %d at lsn %d, want record %d", w, i, r.lsn, next[w])
		}
		next[w]++
	}
	t.Logf("%d SyncTo calls, %d fdatasyncs", writers*each, l.syncs.Load())
}

// TestGroupCommitSharesSync: callers that arrive while a sync runs share
// the next one. The first leader is held inside fdatasync until every
// other caller waits; then exactly one more fdatasync serves them all.
func TestGroupCommitSharesSync(t *testing.T) {
	const followers = 10
	l := openLog(t, t.TempDir(), Options{})
	defer closeLog(t, l)
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	l.fdatasync = func(f *os.File) error {
		if held.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return fdatasync(f)
	}
	base := l.syncs.Load()

	lsn := appendT(t, l, []byte("leader"))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.SyncTo(lsn); err != nil {
			t.Error(err)
		}
	})
	<-entered
	for i := range followers {
		wg.Go(func() {
			lsn, err := l.Append([]byte{byte(i)})
			if err == nil {
				err = l.SyncTo(lsn)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	for {
		l.syncMu.Lock()
		n := l.waiters
		l.syncMu.Unlock()
		if n == followers {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if n := l.syncs.Load() - base; n != 2 {
		t.Fatalf("%d fdatasyncs for 1 leader and %d followers, want 2", n, followers)
	}
	if got := l.SyncedLSN(); got != followers+1 {
		t.Fatalf("SyncedLSN %d, want %d", got, followers+1)
	}
}

func TestSyncErrorSticky(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	eio := &os.PathError{Op: "fdatasync", Path: "x", Err: syscall.EIO}
	l.fdatasync = func(*os.File) error { return eio }
	lsn := appendT(t, l, []byte("a"))
	if err := l.SyncTo(lsn); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncTo with a failing fdatasync: %v", err)
	}
	l.fdatasync = fdatasync // a later success must not hide the failure
	if err := l.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync after a failed sync: %v", err)
	}
	if _, err := l.Append([]byte("b")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append after a failed sync: %v", err)
	}
	if err := l.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close after a failed sync: %v", err)
	}
}

func TestSyncToUnappended(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer closeLog(t, l)
	appendT(t, l, []byte("a"))
	if err := l.SyncTo(5); err == nil {
		t.Fatal("SyncTo of an LSN never appended succeeded")
	}
	if err := l.SyncTo(1); err != nil {
		t.Fatal(err)
	}
}

// TestSyncCoversRotation: a sync after appends that crossed segments
// syncs every segment written, not just the active one.
func TestSyncCoversRotation(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentSize: 4096, NoCompression: true})
	defer closeLog(t, l)
	synced := map[string]bool{}
	l.fdatasync = func(f *os.File) error {
		synced[f.Name()] = true
		return fdatasync(f)
	}
	for i := range 20 {
		appendT(t, l, payload(i, 500))
	}
	syncT(t, l)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if s.end > segHeaderSize && !synced[s.path] {
			t.Errorf("segment %s holds appended records but was not synced", s.path)
		}
	}
}

// TestFailedSegmentSwitch: when the switch to a new segment fails after
// the new segment's header was written (its header's fdatasync, or the
// directory sync, fails), the log is failed: no record may take the LSNs
// that header claims, in the old segment or a later one. A reopen then
// recovers every record appended, and the log carries on.
func TestFailedSegmentSwitch(t *testing.T) {
	eio := &os.PathError{Op: "sync", Path: "x", Err: syscall.EIO}
	for _, which := range []string{"fdatasync", "dirsync"} {
		t.Run(which, func(t *testing.T) {
			dir := t.TempDir()
			var armed atomic.Bool // fail the next call, once
			fail := func() error {
				if armed.CompareAndSwap(true, false) {
					return eio
				}
				return nil
			}
			dataSync, dirSync := noDataSync, noDirSync
			if which == "fdatasync" {
				dataSync = func(*os.File) error { return fail() }
			} else {
				dirSync = func(string) error { return fail() }
			}
			opts := Options{SegmentSize: minSegmentSize, MaxFreeSegments: -1, NoCompression: true}
			l, err := open(dir, opts, dataSync, dirSync)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for i := range 10 { // about 2.3 KiB of the 4 KiB segment
				want = append(want, payload(i, 200))
				appendT(t, l, want[i])
			}
			syncT(t, l)
			want = append(want, payload(10, 200))
			appendT(t, l, want[10]) // not synced when the switch fails

			armed.Store(true)
			if _, err := l.Append(payload(99, 3000)); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Append that needs a new segment: %v, want EIO", err)
			}
			if armed.Load() {
				t.Fatal("the switch never synced")
			}
			// A record small enough for the old segment would take the LSN
			// the new segment's header claims.
			if _, err := l.Append(payload(11, 200)); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Append after a failed segment switch: %v, want EIO", err)
			}
			if err := l.Sync(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Sync after a failed segment switch: %v, want EIO", err)
			}
			if err := l.Close(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Close after a failed segment switch: %v, want EIO", err)
			}

			// The new segment survived the failure with its header; recovery
			// reads it as the (empty) continuation of the old one.
			if live, _ := segFiles(t, dir); len(live) != 2 {
				t.Fatalf("live segments %v, want the old one and the new one", live)
			}
			l, err = open(dir, opts, noDataSync, noDirSync)
			if err != nil {
				t.Fatalf("reopen after a failed segment switch: %v", err)
			}
			checkRecords(t, replayAll(t, l, 1), 1, want)
			for i := range 20 { // across more segments
				want = append(want, payload(20+i, 300+100*i))
				appendT(t, l, want[len(want)-1])
			}
			syncT(t, l)
			closeLog(t, l)
			l, err = open(dir, opts, noDataSync, noDirSync)
			if err != nil {
				t.Fatalf("second reopen: %v", err)
			}
			defer closeLog(t, l)
			checkRecords(t, replayAll(t, l, 1), 1, want)
		})
	}
}
