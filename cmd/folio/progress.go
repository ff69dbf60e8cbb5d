package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress shows how far a long operation has come. Commands call Add as
// work is done and Done once at the end (also on failure), which erases
// the bar; both are safe from several goroutines.
//
// A bar is drawn on stderr only when stderr is a terminal; otherwise (a
// pipe, a log file, a test) newProgress returns one that does nothing, so
// scripts and CI logs get no carriage-return noise. We rejected
// github.com/schollz/progressbar: it is more than this needs, and the one
// behaviour that matters here (silent off a terminal) is ours to decide.
type progress interface {
	Add(n int64)
	Done()
}

// newProgress returns a progress for an operation of total units (bytes,
// keys...) described by what; total <= 0 means unknown, and the bar then
// shows a count and a rate instead of a percentage.
func newProgress(a *app, total int64, what string) progress {
	if !a.isTerminal {
		return noProgress{}
	}
	return newBar(a.stderr, total, what, time.Now)
}

type noProgress struct{}

func (noProgress) Add(int64) {}
func (noProgress) Done()     {}

// watchFileSize shows on prog how f, a new file, grows, polling its size
// every redrawEvery until stop is called, which reports the rest. It is
// for a writer that needs f itself (Tx.WriteTo writes into an *os.File
// directly, not through a counting wrapper). Off a terminal it does
// nothing.
func watchFileSize(prog progress, f *os.File) (stop func()) {
	if _, ok := prog.(noProgress); ok {
		return func() {}
	}
	tick := time.NewTicker(redrawEvery)
	stopWatch := watchSize(prog, func() (int64, error) {
		// NB: fstat, which does not wait for a write running on f as
		// lseek(SEEK_CUR) may; a regular file's size grows as it is
		// written.
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}, tick.C)
	return func() {
		stopWatch()
		tick.Stop()
	}
}

// watchSize adds to prog what size grew by, read at each tick and once
// more by stop, which ends the goroutine reading it. A size that fails or
// shrinks adds nothing.
func watchSize(prog progress, size func() (int64, error), tick <-chan time.Time) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	var shown int64 // the goroutine's until done is closed, then stop's
	report := func() {
		if n, err := size(); err == nil && n > shown {
			prog.Add(n - shown)
			shown = n
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-tick:
				report()
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		report()
	}
}

// redrawEvery bounds how often the bar is redrawn: often enough to look
// alive, rarely enough that drawing costs nothing next to the work.
const redrawEvery = 100 * time.Millisecond

const barWidth = 30

type bar struct {
	w     io.Writer
	what  string
	total int64
	now   func() time.Time // a clock the tests can drive

	mu    sync.Mutex
	done  int64     // units done so far
	start time.Time // when the bar was made
	drawn time.Time // when it was last drawn
	ended bool      // Done was called
}

func newBar(w io.Writer, total int64, what string, now func() time.Time) *bar {
	b := &bar{w: w, what: what, total: total, now: now, start: now()}
	b.mu.Lock()
	b.drawLocked(b.start)
	b.mu.Unlock()
	return b
}

func (b *bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.done += n
	if t := b.now(); t.Sub(b.drawn) >= redrawEvery {
		b.drawLocked(t)
	}
}

// Done erases the bar: the command prints its own summary on stdout, and
// a finished bar left on the terminal would sit between its lines.
func (b *bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	fmt.Fprint(b.w, "\r\x1b[K")
}

// drawLocked redraws the line in place. REQUIRES: b.mu held.
func (b *bar) drawLocked(t time.Time) {
	b.drawn = t
	el := t.Sub(b.start)
	rate := ""
	if s := el.Seconds(); s > 0 {
		rate = si(float64(b.done)/s) + "/s"
	}
	var line string
	if b.total > 0 {
		frac := min(float64(b.done)/float64(b.total), 1)
		fill := int(frac * barWidth)
		line = fmt.Sprintf("%s [%s%s] %3.0f%% %s/%s %s %s", b.what,
			strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill),
			frac*100, si(float64(b.done)), si(float64(b.total)), rate, el.Round(100*time.Millisecond))
	} else {
		line = fmt.Sprintf("%s %s %s %s", b.what, si(float64(b.done)), rate, el.Round(100*time.Millisecond))
	}
	// \r goes back to the line's start, \x1b[K clears what a longer
	// earlier line left behind.
	fmt.Fprintf(b.w, "\r%s\x1b[K", line)
}

// si formats n with a k/M/G suffix: "12.3k".
func si(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}
