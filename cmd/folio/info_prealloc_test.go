package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsInfoPreallocated: info said "the file beyond is
// preallocated" after the high water mark whatever lay beyond it, also
// for a file that ends at the mark (compact's output, a file cut back at
// Close), where nothing does. It now says how much lies past the mark.
func TestDocsInfoPreallocated(t *testing.T) {
	src := sampleDB(t)
	tight := filepath.Join(t.TempDir(), "tight.db")
	if code, _, stderr := runCLI(t, "compact", src, tight); code != exitOK {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	// A crash leaves the tail a writer grew into: 64 KiB past the mark.
	long := filepath.Join(t.TempDir(), "long.db")
	if code, _, stderr := runCLI(t, "compact", src, long); code != exitOK {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(long)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(long, fi.Size()+64<<10); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{src, tight, long} {
		code, out, stderr := runCLI(t, "info", "--json", path)
		if code != exitOK {
			t.Fatalf("info --json %s: exit %d: %s", path, code, stderr)
		}
		var in infoJSON
		if err := json.Unmarshal([]byte(out), &in); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		past := in.FileSize - int64(in.HighPage)*int64(in.PageSize)
		code, out, stderr = runCLI(t, "info", path)
		if code != exitOK {
			t.Fatalf("info %s: exit %d: %s", path, code, stderr)
		}
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "high water:") {
				line = l
			}
		}
		switch {
		case past == 0 && (strings.Contains(line, "preallocated") || !strings.Contains(line, "nothing past it")):
			t.Errorf("%s ends at its high water mark, but info says %q", filepath.Base(path), line)
		case past > 0 && !strings.Contains(line, humanBytes(past)+" past it preallocated"):
			t.Errorf("%s has %d bytes past its high water mark, but info says %q", filepath.Base(path), past, line)
		}
	}
}
