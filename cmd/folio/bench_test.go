package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// smallBench are bench flags for a run of a fraction of a second.
func smallBench(dir string) []string {
	return []string{"bench", "--keys", "300", "--batch", "40", "--durable-commits", "5", "--rw-time", "20ms",
		"--page-size", "1024", "--seed", "1", "--dir", dir}
}

func TestBench(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runCLI(t, append(smallBench(dir), "--gobench")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{
		"W1-seq-load    300 keys", "insert in key order, 400 per tx",
		"W2-rand-load   300 keys", "insert in random order, 40 per tx",
		"W3-get         300 reads", "W3-get-batch   300 reads", "W4-scan        300 keys",
		"W5-durable     5 commits", "commit p50 ", "W7-read-write", "1-put commits",
		"check: ok (", "300 keys", "seed 1",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Go benchmark lines, as benchstat reads them.
	re := regexp.MustCompile(`(?m)^BenchmarkFolio/W[1-7]-[a-z-]+\t\d+\t\d+ ns/op\t\S+ (keys|reads|commits)/s`)
	if n := len(re.FindAllString(out, -1)); n < 6 {
		t.Errorf("%d benchmark lines, want 6 or 7:\n%s", n, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bench left %d files in --dir", len(entries))
	}
}

func TestBenchJSONKeep(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runCLI(t, append(smallBench(dir), "--json", "--keep", "--rw-time", "0", "--durable-commits", "0")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res benchJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(res.Results) != 5 || res.Results[0].Name != "W1-seq-load" || res.Results[0].Ops != 300 || res.Results[0].Commits != 1 ||
		res.Results[1].Commits != 8 || !strings.HasPrefix(res.Check, "ok") {
		t.Errorf("results %+v", res)
	}
	if filepath.Dir(filepath.Dir(res.Config.Path)) != dir {
		t.Errorf("database at %s, not in --dir %s", res.Config.Path, dir)
	}
	// The kept database is whole.
	if code, out, stderr := runCLI(t, "check", res.Config.Path); code != exitOK || !strings.Contains(out, "600 keys in 2 buckets") {
		t.Errorf("check of the kept database: exit %d: %s%s", code, out, stderr)
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--json", "--gobench"},
		{"bench", "--rw-time", "-1s"},
		{"bench", "--durable-commits", "-1"},
		{"bench", "--key-size", "40000"},
		{"bench", "extra"},
	} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := runCLI(t, "bench", "--keys", "10", "--dir", filepath.Join(t.TempDir(), "missing")); code != exitFail {
		t.Errorf("bench into a missing --dir: exit %d (%s), want 1", code, stderr)
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{1234 * time.Nanosecond, "1µs"},
		{2345678 * time.Nanosecond, "2.35ms"},
		{23456789 * time.Nanosecond, "23.5ms"},
		{234567890 * time.Nanosecond, "235ms"},
		{2345678901 * time.Nanosecond, "2.35s"},
		{23456789012 * time.Nanosecond, "23.5s"},
		{234567890123 * time.Nanosecond, "3m55s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

// TestBenchHelpWAL: --wal is explained where it is offered.
func TestBenchHelpWAL(t *testing.T) {
	code, out, _ := runCLI(t, "bench", "--help")
	for _, w := range []string{"--wal runs the same workloads in WAL mode", "write-ahead log", "one sequential sync per commit", "--wal "} {
		if code != exitOK || !strings.Contains(out, w) {
			t.Errorf("bench --help: exit %d, lacks %q", code, w)
		}
	}
}
