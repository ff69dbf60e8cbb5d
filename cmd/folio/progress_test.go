package main

import (
	"bytes"
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
