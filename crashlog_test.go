package folio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/foliodb/folio/wal"
)

// This file is the write-ahead-log double of the WAL-mode crash tests.
//
// crashLog is a tx.Log in memory. It keeps every record's payload and
// records every Append, SyncTo and Truncate, each stamped with the number
// of calls the file double (crashStorage) had recorded by then, so that
// the two logs merge into one sequence of crash points (points). For a
// crash after the first k log calls it gives the log a power cut could
// leave (image): the records a sync covered; those plus some of the
// records appended after the last sync (a prefix: the log is read in
// order and ends at its first gap); or such a prefix followed by a torn
// frame and, past it, records that reached the disk whole. A checkpoint's
// Truncate is durable when it returns (package wal syncs the directory),
// but it drops whole segments only, so a log may keep records older than
// the truncation point: random images keep some.
//
// A logImage is then written with package wal itself into a directory
// (write): real frames, with the syncs replayed at the same records so
// that each frame's unsynced field claims what the original's did, and
// the torn frame damaged in place. Opening it runs wal's real recovery,
// which must tell the tear from corruption, before tx replays the
// records.

type logOpKind uint8

const (
	logAppend logOpKind = iota
	logSync
	logTruncate
)

// logOp is one recorded call.
type logOp struct {
	kind    logOpKind
	lsn     uint64 // append: the record's LSN; sync: durable after it; truncate: first LSN kept
	fileOps int    // calls the file double had recorded when this one was made
	tag     int
}

func (op logOp) String() string {
	switch op.kind {
	case logAppend:
		return fmt.Sprintf("log append lsn %d (txn %d)", op.lsn, op.tag)
	case logSync:
		return fmt.Sprintf("log sync to lsn %d (txn %d)", op.lsn, op.tag)
	}
	return fmt.Sprintf("log truncate, first lsn now %d (txn %d)", op.lsn, op.tag)
}

// logRecord is one appended record: its payload and the transaction
// number the test was committing when it was appended.
type logRecord struct {
	payload []byte
	tag     int
}

type crashLog struct {
	st *crashStorage // whose calls the log's calls are ordered against

	mu      sync.Mutex
	recs    []logRecord // recs[i] has LSN i+1
	base    int         // recs[:base] were there, durable, when recording began
	durable uint64      // highest LSN synced
	first   uint64      // first LSN not truncated
	ops     []logOp
	tag     int
}

// newCrashLog returns an empty log double ordered against st.
func newCrashLog(st *crashStorage) *crashLog {
	return &crashLog{st: st, first: 1}
}

// newCrashLogWith returns a log double holding recs, all durable, as a
// recovered log would.
func newCrashLogWith(st *crashStorage, recs []logRecord) *crashLog {
	l := newCrashLog(st)
	l.recs = append([]logRecord(nil), recs...)
	l.base = len(recs)
	l.durable = uint64(len(recs))
	return l
}

func (l *crashLog) recordLocked(kind logOpKind, lsn uint64) {
	l.ops = append(l.ops, logOp{kind: kind, lsn: lsn, fileOps: l.st.opCount(), tag: l.tag})
}

func (l *crashLog) Append(payload []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, logRecord{payload: bytes.Clone(payload), tag: l.tag})
	lsn := uint64(len(l.recs))
	l.recordLocked(logAppend, lsn)
	return lsn, nil
}

// SyncTo makes everything appended durable, as package wal's leader does.
func (l *crashLog) SyncTo(lsn uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lsn > uint64(len(l.recs)) {
		return fmt.Errorf("crash log: SyncTo(%d) with %d records", lsn, len(l.recs))
	}
	if lsn > l.durable {
		l.durable = uint64(len(l.recs))
		l.recordLocked(logSync, l.durable)
	}
	return nil
}

func (l *crashLog) Replay(from uint64, fn func(uint64, []byte) error) error {
	l.mu.Lock()
	recs, first := l.recs, l.first
	l.mu.Unlock()
	for lsn := max(from, first); lsn <= uint64(len(recs)); lsn++ {
		if err := fn(lsn, recs[lsn-1].payload); err != nil {
			return err
		}
	}
	return nil
}

// Truncate drops durable records up to upTo, as package wal's does.
func (l *crashLog) Truncate(upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := min(upTo, l.durable) + 1; f > l.first {
		l.first = f
		l.recordLocked(logTruncate, f)
	}
	return nil
}

func (l *crashLog) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, r := range l.recs[l.first-1:] {
		n += walFrameSize(len(r.payload))
	}
	return n
}

func (l *crashLog) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.recs))
}

func (l *crashLog) Close() error { return nil }

func (l *crashLog) setTag(tag int) {
	l.mu.Lock()
	l.tag = tag
	l.mu.Unlock()
}

// opCount is the number of log calls recorded so far.
func (l *crashLog) opCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

// truncations counts the Truncate calls that dropped records: checkpoints.
func (l *crashLog) truncations() int {
	n := 0
	for _, op := range l.ops {
		if op.kind == logTruncate {
			n++
		}
	}
	return n
}

// walPoint is a crash point: file calls and log calls done. Point i of
// points has file+log == i.
type walPoint struct{ file, log int }

// points merges the file double's nfile calls with the log's calls in
// the order they were made.
func (l *crashLog) points(nfile int) []walPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	pts := []walPoint{{}}
	f := 0
	for i, op := range l.ops {
		for ; f < op.fileOps; f++ {
			pts = append(pts, walPoint{f + 1, i})
		}
		pts = append(pts, walPoint{f, i + 1})
	}
	for ; f < nfile; f++ {
		pts = append(pts, walPoint{f + 1, len(l.ops)})
	}
	return pts
}

// describe names the last call before point p.
func (l *crashLog) describe(st *crashStorage, p walPoint, prev walPoint) string {
	switch {
	case p.log > prev.log:
		return "last " + l.ops[p.log-1].String()
	case p.file > prev.file:
		return opAt(st.ops, p.file)
	}
	return "none"
}

// tagsAt returns, after the first k log calls, the transaction of the
// last durable record and of the last appended one (0: none).
func (l *crashLog) tagsAt(k int) (durable, last int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, d := l.base, l.base
	for _, op := range l.ops[:k] {
		switch op.kind {
		case logAppend:
			n = int(op.lsn)
		case logSync:
			d = int(op.lsn)
		}
	}
	if d > 0 {
		durable = l.recs[d-1].tag
	}
	if n > 0 {
		last = l.recs[n-1].tag
	}
	return durable, last
}

type logMode int

const (
	logSynced logMode = iota // only records a sync covered
	logAll                   // every record appended (a process death)
	logSubset                // synced records and a prefix of the others
	logTorn                  // that prefix, a torn frame, and maybe whole ones past it
)

func (m logMode) String() string { return [...]string{"synced", "all", "subset", "torn"}[m] }

// logImage is a log as a crash left it: recs in LSN order, whole except
// recs[torn] (torn < 0: none). syncAfter[i] says a sync covered recs[i]
// and nothing after it before the crash: writing the image syncs there.
type logImage struct {
	recs      []logRecord
	syncAfter []bool
	torn      int
}

// image returns the log a power cut right after the first k log calls
// could leave, for mode (rng picks the prefix, the torn frame and what
// survives of truncated records).
func (l *crashLog) image(k int, mode logMode, rng *rand.Rand) logImage {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, durable, first := uint64(l.base), uint64(l.base), uint64(1)
	synced := map[uint64]bool{}
	if l.base > 0 {
		synced[uint64(l.base)] = true
	}
	for _, op := range l.ops[:k] {
		switch op.kind {
		case logAppend:
			n = op.lsn
		case logSync:
			durable = op.lsn
			synced[op.lsn] = true
		case logTruncate:
			first = op.lsn
		}
	}
	start, end, torn := first, durable, uint64(0)
	random := mode == logSubset || mode == logTorn
	if random && first > 1 && rng.IntN(2) == 0 {
		// The segment holding the truncation point stays whole, and it
		// may hold records from long before.
		start = 1 + rng.Uint64N(first-1)
	}
	switch mode {
	case logAll:
		end = n
	case logSubset, logTorn:
		end = durable + rng.Uint64N(n-durable+1)
	}
	if mode == logTorn && end < n {
		torn = end + 1
		end = torn
		if rng.IntN(2) == 0 {
			end = n // what came after the torn frame reached the disk
		}
	}
	img := logImage{torn: -1}
	for lsn := start; lsn <= end; lsn++ {
		if lsn == torn {
			img.torn = len(img.recs)
		}
		img.recs = append(img.recs, l.recs[lsn-1])
		img.syncAfter = append(img.syncAfter, synced[lsn] && lsn <= durable)
	}
	return img
}

// whole returns the records before the torn one: what recovery keeps.
func (li logImage) whole() []logRecord {
	if li.torn >= 0 {
		return li.recs[:li.torn]
	}
	return li.recs
}

// walFrameSize is the size of a frame holding n payload bytes stored raw
// (package wal's wire format: a 32-byte header, the payload, padding to 8).
// s2 keeps a payload raw unless compressing saves an eighth.
func walFrameSize(n int) int64 { return int64(32+n+7) &^ 7 }

// walSegmentSize is a segment size that holds recs in one segment.
func walSegmentSize(recs []logRecord) int64 {
	n := int64(32)
	for _, r := range recs {
		n += walFrameSize(len(r.payload))
	}
	return (n + 4096 + 4095) &^ 4095
}

// write writes the image with package wal into dir (which must not hold a
// log), damaging its torn frame in place.
func (li logImage) write(t testing.TB, dir string, rng *rand.Rand) {
	t.Helper()
	opts := wal.Options{SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1}
	lg, err := wal.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range li.recs {
		lsn, err := lg.Append(r.payload)
		if err != nil {
			t.Fatal(err)
		}
		if li.syncAfter[i] {
			if err := lg.SyncTo(lsn); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if li.torn < 0 {
		return
	}
	seg := walSegments(t, dir)
	if len(seg) != 1 {
		t.Fatalf("image log in %d segments, want 1", len(seg))
	}
	data, err := os.ReadFile(seg[0])
	if err != nil {
		t.Fatal(err)
	}
	fr := walFrames(data)
	if len(fr) != len(li.recs) {
		t.Fatalf("image log holds %d frames, want %d", len(fr), len(li.recs))
	}
	tearFrame(data, fr[li.torn], rng)
	if err := os.WriteFile(seg[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tearFrame damages f as a write cut short leaves it: from a point inside
// its header or payload (at a sector boundary when one falls there) to
// its end, the bytes are zeros or garbage.
func tearFrame(data []byte, f walFrame, rng *rand.Rand) {
	end := f.off + 32 + int64(f.length)
	cut := f.off + rng.Int64N(end-f.off)
	if s := (cut + minSector - 1) &^ (minSector - 1); s < end && rng.IntN(2) == 0 {
		cut = s
	}
	old := bytes.Clone(data[cut:end])
	garbage := rng.IntN(2) == 0
	for i := cut; i < f.off+f.size; i++ {
		data[i] = 0
		if garbage {
			data[i] = byte(rng.Uint32())
		}
	}
	if bytes.Equal(old, data[cut:end]) {
		data[cut] ^= 0xff // the cut fell in bytes that were zero already
	}
}

// walFrame is a frame found in a segment file.
type walFrame struct {
	off    int64  // offset in the file
	size   int64  // with padding
	length uint32 // stored payload bytes
	lsn    uint64
}

var walCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// walFrames walks the frames of a segment file from its header on while
// their header checksums hold (package wal's wire format, see its doc):
// CRC-32C seeded with the segment's salt, bytes 12-16 of a version 2
// header; version 1 has none.
func walFrames(data []byte) []walFrame {
	var fr []walFrame
	var salt uint32
	if len(data) >= 32 && binary.LittleEndian.Uint16(data[8:]) == 2 {
		salt = binary.LittleEndian.Uint32(data[12:])
	}
	for off := int64(32); off+32 <= int64(len(data)); {
		h := data[off : off+32]
		if binary.LittleEndian.Uint32(h) != crc32.Update(salt, walCastagnoli, h[4:]) {
			break
		}
		n := binary.LittleEndian.Uint32(h[8:])
		f := walFrame{off: off, size: walFrameSize(int(n)), length: n, lsn: binary.LittleEndian.Uint64(h[16:])}
		if off+f.size > int64(len(data)) {
			break
		}
		fr = append(fr, f)
		off += f.size
	}
	return fr
}

// walSegments lists the live segment files of the log in dir, oldest first.
func walSegments(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			segs = append(segs, filepath.Join(dir, e.Name()))
		}
	}
	return segs
}

// scratchDir returns a directory for log images, in memory (/dev/shm)
// where there is one, removed when the test ends: thousands of logs are
// written and synced there.
func scratchDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "folio-test-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// replayCounter is a Logger counting the opens that replayed the log.
type replayCounter struct {
	mu sync.Mutex
	n  int
}

func (c *replayCounter) Printf(format string, v ...any) {
	if strings.Contains(format, "replayed") {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}
