package wal

import (
	"errors"
	"testing"
	"time"
)

// replayGuard bounds the wait for a Replay that may never return: when
// Truncate or Close inside its callback waited for the Replay itself, the
// test binary hung. The bound only turns a hang into a failure; no test
// here depends on how fast anything is.
const replayGuard = 10 * time.Second

// replayOrFail runs l.Replay(1, fn) in a goroutine, and fails the test if
// it has not returned within replayGuard. It returns the LSNs replayed.
func replayOrFail(t *testing.T, l *Log, fn func(lsn uint64) error) []uint64 {
	t.Helper()
	type result struct {
		lsns []uint64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = l.Replay(1, func(lsn uint64, _ []byte) error {
			r.lsns = append(r.lsns, lsn)
			return fn(lsn)
		})
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Replay: %v", r.err)
		}
		return r.lsns
	case <-time.After(replayGuard):
		// The goroutine stays blocked; the test binary goes on.
		t.Fatalf("Replay did not return in %v: its callback deadlocked", replayGuard)
		return nil
	}
}

// TestReplayReentry calls each of the log's methods from inside Replay's
// callback. Truncate and Close return ErrReplaying and do nothing; the
// others work. (Before, Truncate and Close waited for a lock the Replay
// itself held, forever.)
func TestReplayReentry(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(l *Log) error
		want error // nil: the call succeeds
	}{
		{"Truncate", func(l *Log) error { return l.Truncate(3) }, ErrReplaying},
		{"Close", func(l *Log) error { return l.Close() }, ErrReplaying},
		{"Append", func(l *Log) error { _, err := l.Append([]byte("during")); return err }, nil},
		{"Sync", func(l *Log) error { return l.Sync() }, nil},
		{"SyncTo", func(l *Log) error { return l.SyncTo(3) }, nil},
		{"Replay", func(l *Log) error { return l.Replay(1, func(uint64, []byte) error { return nil }) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Small segments, so that Truncate has whole segments to
			// recycle when it is allowed to.
			l := openLog(t, t.TempDir(), Options{SegmentSize: 64 << 10, NoCompression: true})
			big := make([]byte, 40<<10)
			for range 3 {
				appendT(t, l, big)
			}
			syncT(t, l)
			before := l.Size()
			var got error
			lsns := replayOrFail(t, l, func(lsn uint64) error {
				if lsn == 1 {
					got = tc.call(l)
				}
				return nil
			})
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("%s inside Replay: %v", tc.name, got)
			case tc.want != nil && !errors.Is(got, tc.want):
				t.Fatalf("%s inside Replay: %v, want %v", tc.name, got, tc.want)
			}
			// The Replay went on to the last record appended when it began.
			if len(lsns) != 3 || lsns[0] != 1 || lsns[2] != 3 {
				t.Fatalf("replayed lsns %v, want 1 to 3", lsns)
			}
			if tc.want != nil {
				// The refused call did nothing: the log is open and whole.
				if n := len(replayAll(t, l, 1)); n != 3 || l.Size() != before {
					t.Fatalf("after a refused %s: %d records, %d bytes; want 3, %d", tc.name, n, l.Size(), before)
				}
				appendT(t, l, []byte("after"))
				syncT(t, l)
			}
			// Once the Replay is over, Truncate and Close work.
			if err := l.Truncate(3); err != nil {
				t.Fatalf("Truncate after Replay: %v", err)
			}
			if l.Size() >= before {
				t.Errorf("Truncate after Replay dropped nothing: %d bytes, %d before", l.Size(), before)
			}
			closeLog(t, l)
		})
	}
}

// TestReplayRefusesConcurrentTruncate: a goroutine cannot be told from
// the callback of a Replay on another one, so Truncate and Close called
// by another goroutine during a Replay are refused too, and a Replay
// after Close is ErrClosed.
func TestReplayRefusesConcurrentTruncate(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	appendT(t, l, []byte("one"))
	appendT(t, l, []byte("two"))
	syncT(t, l)
	var truncErr, closeErr error
	replayOrFail(t, l, func(lsn uint64) error {
		if lsn != 1 {
			return nil
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			truncErr, closeErr = l.Truncate(2), l.Close()
		}()
		<-done
		return nil
	})
	if !errors.Is(truncErr, ErrReplaying) || !errors.Is(closeErr, ErrReplaying) {
		t.Fatalf("during a Replay on another goroutine: Truncate %v, Close %v; want %v", truncErr, closeErr, ErrReplaying)
	}
	closeLog(t, l)
	if err := l.Replay(1, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Replay after Close: %v, want %v", err, ErrClosed)
	}
}
