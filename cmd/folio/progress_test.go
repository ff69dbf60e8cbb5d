package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProgressSilentOffTerminal(t *testing.T) {
	var errb bytes.Buffer
	p := newProgress(&app{stderr: &errb, isTerminal: false}, 100, "load")
	p.Add(50)
	p.Done()
	if errb.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", errb.String())
	}
}

func TestProgressBar(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var w bytes.Buffer
	b := newBar(&w, 1000, "load", clock)
	if !strings.Contains(w.String(), "load [") || !strings.Contains(w.String(), "0%") {
		t.Errorf("first draw %q", w.String())
	}
	w.Reset()
	b.Add(100) // no time has passed: not redrawn
	if w.Len() != 0 {
		t.Errorf("redrawn within %v: %q", redrawEvery, w.String())
	}
	now = now.Add(time.Second)
	b.Add(400)
	if got := w.String(); !strings.Contains(got, " 50% 500/1000 500/s") || !strings.HasPrefix(got, "\r") {
		t.Errorf("draw at 50%%: %q", got)
	}
	w.Reset()
	now = now.Add(time.Second)
	b.Add(2000) // past the total: capped at 100%
	if got := w.String(); !strings.Contains(got, "[==============================] 100%") {
		t.Errorf("draw past the total: %q", got)
	}
	w.Reset()
	b.Done()
	b.Done() // a second Done does nothing
	b.Add(1) // nor does Add after Done
	if got := w.String(); got != "\r\x1b[K" {
		t.Errorf("Done wrote %q, want the line erased", got)
	}
}

func TestProgressUnknownTotal(t *testing.T) {
	now := time.Unix(1000, 0)
	var w bytes.Buffer
	b := newBar(&w, 0, "scan", func() time.Time { return now })
	now = now.Add(2 * time.Second)
	b.Add(50000)
	if got := w.String(); !strings.Contains(got, "scan 50.0k 25.0k/s 2s") {
		t.Errorf("draw %q", got)
	}
}

// screen is what a terminal shows of s: "\r" returns to the line's start,
// "\x1b[K" clears the rest of the line, "\n" starts a new one, and other
// bytes overwrite what is under the cursor.
func screen(s string) []string {
	var lines []string
	var cur []byte
	col := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\n':
			lines, cur, col = append(lines, string(cur)), nil, 0
		case s[i] == '\r':
			col = 0
		case strings.HasPrefix(s[i:], "\x1b[K"):
			cur = cur[:col]
			i += len("\x1b[K") - 1
		default:
			if col < len(cur) {
				cur[col] = s[i]
			} else {
				cur = append(cur, s[i])
			}
			col++
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// TestProgressLeavesLinesWhole: where stderr and stdout are one terminal,
// the bar is gone before a command prints a line, which starts a line of
// its own instead of running on from the bar.
func TestProgressLeavesLinesWhole(t *testing.T) {
	dump := "VERSION=3\nformat=print\ndatabase=a\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n"
	for _, tc := range []struct {
		args  []string
		stdin string
		want  []string // prefixes of lines the terminal must show
	}{
		{[]string{"load", filepath.Join(t.TempDir(), "new.db")}, dump, []string{"loaded 1 key into 1 bucket"}},
		{[]string{"bench", "--keys", "20", "--batch", "5", "--durable-commits", "2", "--rw-time", "0", "--dir", t.TempDir()}, "",
			[]string{"folio bench:", "W1-seq-load ", "W2-rand-load ", "W3-get ", "W3-get-batch ", "W4-scan ", "W5-durable ", "check: ok"}},
	} {
		var term bytes.Buffer // stdout and stderr
		a := newApp(strings.NewReader(tc.stdin), &term, &term)
		a.isTerminal = true
		if code := a.run(tc.args); code != exitOK {
			t.Fatalf("%s: exit %d: %q", tc.args[0], code, term.String())
		}
		lines := screen(term.String())
		for _, w := range tc.want {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
				t.Errorf("%s: no line starts with %q; the terminal shows:\n%s", tc.args[0], w, strings.Join(lines, "\n"))
			}
		}
		for _, l := range lines {
			if strings.Contains(l, "%") || strings.Contains(l, "/s ") && strings.Contains(l, "[") {
				t.Errorf("%s: a bar is left on the terminal: %q", tc.args[0], l)
			}
		}
	}
}

// TestProgressWatchSize: watchSize adds to the bar what the size grew by
// at each tick, nothing for a size that shrank or failed, and the rest
// when stopped, so the bar ends at the final size.
func TestProgressWatchSize(t *testing.T) {
	sizes := make(chan int64, 8)
	var last int64
	size := func() (int64, error) {
		select {
		case n := <-sizes:
			last = n
		default:
		}
		if last < 0 {
			return 0, errors.New("stat failed")
		}
		return last, nil
	}
	rec := &recordProgress{}
	tick := make(chan time.Time)
	stop := watchSize(rec, size, tick)
	for _, n := range []int64{100, 250, 200, -1, 400} {
		sizes <- n
		tick <- time.Time{} // taken: the size before it was read
	}
	sizes <- 1000
	stop()
	if want := []int64{100, 150, 150, 600}; !slices.Equal(rec.adds, want) {
		t.Errorf("added %v, want %v", rec.adds, want)
	}
}

// recordProgress records each Add.
type recordProgress struct{ adds []int64 }

func (r *recordProgress) Add(n int64) { r.adds = append(r.adds, n) }
func (r *recordProgress) Done()       {}
