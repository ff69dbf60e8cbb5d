package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
)

// findPage returns the first page at or after page 2 of the given kind in
// a database with 1 KiB pages, by reading the file.
func findPage(t *testing.T, path string, kind page.Flags) page.ID {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for id := 2; (id+1)*1024 <= len(b); id++ {
		p := b[id*1024 : (id+1)*1024]
		if page.PageFlags(p) == kind && page.PageID(p) == page.ID(id) {
			return page.ID(id)
		}
	}
	t.Fatalf("no %v page in %s", kind, path)
	return 0
}

// flipByte inverts one byte of the file.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	clean := sampleDB(t)
	corrupt := sampleDB(t)
	leaf := findPage(t, corrupt, page.FlagLeaf)
	flipByte(t, corrupt, int64(leaf)*1024+600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"clean", []string{"check", clean}, exitOK, []string{"ok: ", "303 keys in 7 buckets"}},
		{"empty", []string{"check", makeDB(t, nil)}, exitOK, []string{"ok: 2 pages checked at txid 1, 0 keys in 0 buckets"}},
		{"corrupt", []string{"check", corrupt}, exitFail, []string{fmt.Sprintf("page %d: ", leaf), "checksum", "problem found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	path := sampleDB(t)
	leaf := findPage(t, path, page.FlagLeaf)
	flipByte(t, path, int64(leaf)*1024+600)
	code, out, _ := runCLI(t, "check", "--json", path)
	if code != exitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if res.OK || len(res.Problems) == 0 || res.Problems[0].Page == nil || *res.Problems[0].Page != uint64(leaf) {
		t.Errorf("want a problem on page %d, got %s", leaf, out)
	}
}

// TestCheckJSONReportsRefusal: check --json on a database it cannot
// check at all (no such file, a directory, a log to replay first) prints
// a JSON report with the reason as its one problem, and still exits 1:
// "folio check --json DB > report.json || echo damaged" read an empty
// report.json, where a damaged file gave JSON.
func TestCheckJSONReportsRefusal(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "nope.db"), "no such file"},
		{dir, "is a directory"},
		{crashedWALDB(t, 2), `run "folio checkpoint`},
	} {
		code, out, stderr := runCLI(t, "check", "--json", tc.path)
		var res checkJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Errorf("%s: exit %d, %v in %q (%s)", tc.want, code, err, out, stderr)
			continue
		}
		if code != exitFail || res.OK || res.Path != tc.path || len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Error, tc.want) ||
			res.TxID != nil || res.Keys != nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %s (stderr %q); want exit %d and the one problem", tc.want, code, out, stderr, exitFail)
		}
	}
}

// logFrames returns the offsets and LSNs of the frames in the log
// segment file at path, read by their headers (package wal's format: a
// 32-byte segment header, then frames of a 32-byte header, holding the
// payload length at byte 8 and the LSN at byte 16, and the payload padded
// to 8 bytes).
func logFrames(t *testing.T, path string) (offs []int64, lsns []uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 32; off+32 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		lsn := binary.LittleEndian.Uint64(b[off+16:])
		if lsn == 0 || off+32+n > len(b) {
			break
		}
		offs, lsns = append(offs, int64(off)), append(lsns, lsn)
		off += 32 + (n+7)&^7
	}
	return offs, lsns
}

// logFrame is a frame of a log: its segment file, offset and LSN.
type logFrame struct {
	seg string
	off int64
	lsn uint64
}

// allFrames lists the frames of every live segment of db's log, in order.
// Which segment holds which records depends on timing (the log moves to
// a warm spare segment when one is ready), so tests look.
func allFrames(t *testing.T, db string, min int) []logFrame {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(folio.LogDir(db), "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no log segment in %s: %v", folio.LogDir(db), err)
	}
	slices.Sort(segs)
	var frames []logFrame
	for _, seg := range segs {
		offs, lsns := logFrames(t, seg)
		for i := range offs {
			frames = append(frames, logFrame{seg, offs[i], lsns[i]})
		}
	}
	if len(frames) < min {
		t.Fatalf("%d frames in %s, want %d or more", len(frames), folio.LogDir(db), min)
	}
	return frames
}

// victimFrame picks a frame to damage that later synced frames vouch
// for: the last one followed by another in its own segment, if any, else
// the one before the last.
func victimFrame(frames []logFrame) logFrame {
	for i := len(frames) - 2; i >= 0; i-- {
		if frames[i+1].seg == frames[i].seg {
			return frames[i]
		}
	}
	return frames[len(frames)-2]
}

var logOK = regexp.MustCompile(`(?m)^log .*wal\.db\.wal: ok: (\d+) records \(lsn \d+ to (\d+)\), [\d.]+ (?:B|KiB|MiB), last lsn (\d+)$`)

func TestCheckLog(t *testing.T) {
	// A clean close: the file holds every commit, and the log the last
	// records still (its active segment is kept whole).
	clean := walDB(t, 5)
	frames := allFrames(t, clean, 1) // after a clean close, maybe only the last
	logBefore := dirSum(t, folio.LogDir(clean))
	code, out, stderr := runCLI(t, "check", clean)
	m := logOK.FindStringSubmatch(out)
	if code != exitOK || m == nil || m[2] != m[3] || m[3] != fmt.Sprint(frames[len(frames)-1].lsn) ||
		!strings.Contains(out, "ok: ") || !strings.Contains(out, "308 keys in 7 buckets") {
		t.Fatalf("clean: exit %d:\n%s%s", code, out, stderr)
	}
	if dirSum(t, folio.LogDir(clean)) != logBefore {
		t.Error("check changed the log")
	}
	code, out, _ = runCLI(t, "check", "--json", clean)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if code != exitOK || !res.OK || res.Log == nil || !res.Log.OK || res.Log.Records < 1 ||
		res.Log.LastLSN != frames[len(frames)-1].lsn || res.Log.Bytes <= 0 {
		t.Errorf("clean --json: exit %d:\n%s", code, out)
	}
}

// TestCheckLogCorrupt damages a record in the middle of a log (taken
// before Close, so it holds every record of the session): the records
// after it vouch that it was durable, so it is damage, not a torn tail,
// and check names its segment and offset.
func TestCheckLogCorrupt(t *testing.T) {
	path := crashedWALDB(t, 5)
	frames := allFrames(t, path, 2)
	if len(frames) != 7 {
		t.Fatalf("%d records in the log, want 7 (the anchor logged at open, then 6 commits)", len(frames))
	}
	v := victimFrame(frames)
	flipByte(t, v.seg, v.off+32+3)
	code, out, stderr := runCLI(t, "check", path)
	want := fmt.Sprintf("log segment %s offset %d: record %d: ", filepath.Base(v.seg), v.off, v.lsn)
	if code != exitFail || !strings.Contains(out, want) || !strings.Contains(out, "1 problem found") {
		t.Errorf("exit %d, want 1 and %q:\n%s%s", code, want, out, stderr)
	}
	code, out, _ = runCLI(t, "check", "--json", path)
	var res checkJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if code != exitFail || res.OK || res.Log == nil || res.Log.OK || len(res.Problems) != 1 ||
		res.Problems[0].Segment != filepath.Base(v.seg) || res.Problems[0].Offset == nil || *res.Problems[0].Offset != v.off {
		t.Errorf("--json: exit %d, want 1 and one problem in %s at offset %d:\n%s", code, filepath.Base(v.seg), v.off, out)
	}
	// The damage is reported, never skipped: checkpoint refuses too.
	code, out, stderr = runCLI(t, "checkpoint", path)
	if code != exitFail || !strings.Contains(stderr, "corrupt") || !strings.Contains(stderr, "folio check") {
		t.Errorf("checkpoint: exit %d, want 1 and a message naming the damage:\n%s%s", code, out, stderr)
	}
}

// TestCheckpointTornTail zeroes the last record's header, as a crash
// mid-append leaves it: no later frame vouches for it, so the log ends
// before it, checkpoint replays the others and check finds nothing wrong.
func TestCheckpointTornTail(t *testing.T) {
	path := crashedWALDB(t, 5)
	frames := allFrames(t, path, 2)
	if len(frames) != 7 {
		t.Fatalf("%d records in the log, want 7 (the anchor logged at open, then 6 commits)", len(frames))
	}
	last := frames[len(frames)-1]
	f, err := os.OpenFile(last.seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(make([]byte, 32), last.off)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "checkpoint", path)
	if code != exitOK || !strings.Contains(out, "replayed 5 commits from the log (txids 2 to 6; the file was at txid 1)") {
		t.Fatalf("checkpoint: exit %d:\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "check", path)
	if code != exitOK || !strings.Contains(out, ": ok: ") || !strings.Contains(out, "ok: ") {
		t.Errorf("check: exit %d:\n%s%s", code, out, stderr)
	}
	if code, _, _ := runCLI(t, "get", path, "users", moreKey(3)); code != exitOK {
		t.Errorf("the last whole commit is missing")
	}
	if code, _, _ := runCLI(t, "get", path, "users", moreKey(4)); code != exitFail {
		t.Errorf("get of the torn commit's key: exit %d, want 1 (not found)", code)
	}
}
