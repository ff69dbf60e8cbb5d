package tx

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestReplayDamageWrapped: a log record that does not decode, or whose
// operations do not apply, fails the open with ErrCorrupt wrapping the
// decoder's error (errRecord) or the operation's, and the message says
// "folio:" once. Before, the inner error was formatted with %v: errors.Is
// did not reach it, and its "folio: " showed inside the message ("record
// 2: folio: bad write-ahead log record: ...").
func TestReplayDamageWrapped(t *testing.T) {
	ops := func(txid page.TxID, ps int, extra []byte, list ...walOp) []byte {
		b := make([]byte, opsHeader)
		for i := range list {
			b = appendOp(b, &list[i])
		}
		return sealOps(append(b, extra...), txid, ps, len(list))
	}
	create := walOp{kind: opCreate, key: []byte("b")}
	badAnchor := encodeAnchor(&page.Meta{PageSize: 2 * testPS, TxID: 1})
	for _, c := range []struct {
		name string
		recs [][]byte
		want error
	}{
		// Read while the page images are replayed (replayLog).
		{"anchor", [][]byte{badAnchor}, errRecord},
		{"operations", [][]byte{ops(2, 2*testPS, nil, create)}, errRecord},
		{"pages", [][]byte{encodeRecord(nil, &page.Meta{PageSize: testPS, High: 2, TxID: 2}, testPS, nil)[:recordHeader+8]}, errRecord},
		{"grows", [][]byte{encodeRecord(nil, &page.Meta{PageSize: testPS, High: 5, TxID: 2}, testPS, nil)}, errRecord},
		// Read while the operations are run again (replayOps).
		{"ops-anchor", [][]byte{ops(2, testPS, nil, create), badAnchor}, errRecord},
		{"ops-operations", [][]byte{ops(2, testPS, nil, create), ops(3, 2*testPS, nil, create)}, errRecord},
		{"ops-next", [][]byte{ops(2, testPS, []byte{0xff}, create)}, errRecord},
		{"ops-apply", [][]byte{ops(2, testPS, nil, create, create)}, ErrBucketExists},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := OpenWithLog("x.db", newMemStore(InitialImage(testPS)), &memLog{recs: c.recs}, nil)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, c.want) {
				t.Fatalf("open: %v; want ErrCorrupt wrapping %v", err, c.want)
			}
			if n := strings.Count(err.Error(), "folio:"); n != 1 {
				t.Errorf("open: %q says \"folio:\" %d times, want once", err, n)
			}
		})
	}
}

// memLog is a Log in memory holding recs; record i has LSN i+1.
type memLog struct {
	mu   sync.Mutex
	recs [][]byte
}

func (l *memLog) Append(payload []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, append([]byte(nil), payload...))
	return uint64(len(l.recs)), nil
}

func (l *memLog) Replay(from uint64, fn func(lsn uint64, payload []byte) error) error {
	l.mu.Lock()
	recs := l.recs
	l.mu.Unlock()
	for i, p := range recs {
		if lsn := uint64(i + 1); lsn >= from {
			if err := fn(lsn, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *memLog) SyncTo(uint64) error   { return nil }
func (l *memLog) Truncate(uint64) error { return nil }
func (l *memLog) Size() int64           { return 0 }
func (l *memLog) Close() error          { return nil }

func (l *memLog) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.recs))
}

// memStore is a Storage in memory of at most 1 MiB; views share its
// bytes, as shared mappings of a file do.
type memStore struct {
	mu   sync.Mutex
	buf  []byte
	size int64
}

func newMemStore(img []byte) *memStore {
	s := &memStore{buf: make([]byte, 1<<20), size: int64(len(img))}
	copy(s.buf, img)
	return s
}

func (s *memStore) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

func (s *memStore) Map(size int64) (View, error) {
	// Open maps 16 MiB ahead: give what there is; nothing reads past size.
	return memStoreView(s.buf[:min(size, int64(len(s.buf)))]), nil
}

func (s *memStore) WriteAt(bufs [][]byte, off int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bufs {
		if off+int64(len(b)) > int64(len(s.buf)) {
			return fmt.Errorf("memStore: write past %d bytes", len(s.buf))
		}
		off += int64(copy(s.buf[off:], b))
		s.size = max(s.size, off)
	}
	return nil
}

func (s *memStore) Grow(size int64, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > int64(len(s.buf)) {
		return fmt.Errorf("memStore: cannot grow to %d bytes", size)
	}
	s.size = max(s.size, size)
	return nil
}

func (s *memStore) Truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = min(s.size, size)
	return nil
}

func (s *memStore) SyncRange(off, n int64) error { return nil }
func (s *memStore) Close() error                 { return nil }

type memStoreView []byte

func (v memStoreView) Bytes() []byte { return v }
func (v memStoreView) Close() error  { return nil }
