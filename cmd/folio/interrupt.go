package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// What SIGINT, SIGTERM and SIGHUP do to a command.
//
// A command that makes a file tracks its removal in app.cleanups from the
// moment the file exists until it is renamed into place or removed: backup's and dump -o's
// temporary output and backup's decompressed copy (createOut,
// verifyBackup), compact's and migrate's temporary database (copyTree),
// the database a load creates (loader.create) and bench's directory. On
// the first SIGINT, SIGTERM or SIGHUP, main's handler (exitOnSignal) runs
// every removal still tracked and exits at once with 128 + the signal's
// number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP, as a shell
// reports a process the signal killed, so scripts see why it stopped. The message says what
// stays that the command changed or made (cleanups.note): a database
// changed in place (load, put, delete: noteAsItWas, then what its
// commits left; checkpoint: checkpointNoted) or an output already put in
// place (cleanup.place).
//
// We rejected stopping a command through a context its loops check, with
// its failure paths doing the removal: much of a long command's time goes
// into calls that take no context (Tx.WriteTo, the full check of a copy,
// a wait for a lock, a read of standard input), and Ctrl-C would wait for
// them; every new loop would need the check too. Stopping at once is safe
// for the databases: commits survive the process dying at any point (the
// root's crash tests kill a process mid-commit), so a load into an
// existing database keeps the transactions it committed, whole, and loses
// the one in progress, as after a crash; the files read are opened
// read-only. (A signal during a load's commit waits for it, so that the
// message can say what the database keeps: loader.flush.)
//
// INVARIANT: a tracked file is created, renamed into place (copyTree
// links it, then removes the temporary name: placeNew) and untracked
// only with cleanups.mu held, and the handler takes mu and never releases
// it before the exit. So the handler runs either before a file is made
// (and the maker waits for the exit) or after it is tracked (and removes
// it); either before a rename (removing the temporary file) or after it
// (leaving the finished output, which is then not tracked).

// cleanups holds the removals to run if the command is interrupted.
type cleanups struct {
	mu sync.Mutex // NB: held for good once an interrupt is handled
	// pending holds the tracked removals; guarded by mu.
	pending map[*cleanup]struct{}
	// note says what an interrupt leaves ("x.db keeps the 20000 keys
	// committed before it", "c.db was made and verified before it"): a
	// load into an existing database keeps its whole transactions, a
	// finished output stays, and the message must say so. Guarded by mu.
	note string
}

// setNote sets what the interrupt message says is left behind ("" for
// nothing).
func (c *cleanups) setNote(note string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note = note
}

// noteAsItWas sets the note for a command changing the database at path
// in place (load, put, delete): it is as it was, if it exists. Set before
// the command reads its input or waits for the lock, which may take long,
// and kept until its first commit.
func (c *cleanups) noteAsItWas(path string) {
	if _, err := os.Lstat(path); err == nil {
		c.setNote(path + " is as it was")
	}
}

// cleanup is one tracked removal; nil is a valid cleanup tracking
// nothing (an output written in place: a FIFO or a device).
type cleanup struct {
	c      *cleanups
	remove func()
}

// track runs create, which makes a file and returns how to remove it,
// and tracks that removal until done, even if create also returns an
// error (a file it made before failing); a nil remove tracks nothing,
// and the cleanup returned is then nil. create runs with the lock held,
// so an interrupt cannot come between making the file and tracking it; it
// must be quick.
//
// NB: folio.Open builds a new database aside (PATH.new-*) and renames it
// to PATH: run it inside create, so an interrupt comes before it begins
// or after the rename, and PATH is all there is to remove.
func (c *cleanups) track(create func() (remove func(), err error)) (*cleanup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	remove, err := create()
	if remove == nil {
		return nil, err
	}
	cl := &cleanup{c: c, remove: remove}
	if c.pending == nil {
		c.pending = map[*cleanup]struct{}{}
	}
	c.pending[cl] = struct{}{}
	return cl, err
}

// done runs finish (nil: nothing), with the lock held, and stops tracking
// if it succeeded: a rename into place (an interrupt then comes before
// it, and the temporary file is removed, or after it, and the output
// stays) or the removal itself. A failed finish leaves the removal
// tracked. done may be called again; after an interrupt it waits for
// the exit.
func (cl *cleanup) done(finish func() error) error {
	if cl == nil {
		if finish == nil {
			return nil
		}
		return finish()
	}
	cl.c.mu.Lock()
	defer cl.c.mu.Unlock()
	if finish != nil {
		if err := finish(); err != nil {
			return err
		}
	}
	delete(cl.c.pending, cl)
	return nil
}

// place is done for the finish that puts the file at path in place, and
// sets the note to what an interrupt then leaves there ("OUT was written
// and verified before it"). We rejected saying nothing of a file an
// interrupt no longer removes: exit 130 with no word of it read as
// nothing made, and a second run failed on the file there.
func (cl *cleanup) place(finish func() error, path, note string) error {
	if cl == nil {
		return cl.done(finish)
	}
	err := cl.done(func() error {
		if err := finish(); err != nil {
			return err
		}
		cl.c.note = note
		return nil
	})
	if err == nil && outputPlaced != nil {
		outputPlaced(cl.c, path)
	}
	return err
}

// interrupt runs every tracked removal and says how many there were. It
// keeps the lock: nothing is made, renamed or untracked after it, and the
// caller is to exit.
func (c *cleanups) interrupt() int {
	c.mu.Lock()
	for cl := range c.pending {
		cl.remove()
	}
	return len(c.pending)
}

// settle returns at once unless an interrupt is being handled; then it
// waits, and the process exits first. A command that failed because the
// handler removed its file from under it thus reports nothing.
func (c *cleanups) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
}

// exitOnSignal makes the first SIGINT or SIGTERM remove what the command
// was making and exit 130 or 143 (see the top of this file). The handler
// then restores the signals' default action, so a second Ctrl-C kills
// folio at once, removals done or not. A signal ignored when folio
// started (nohup, a background job of a non-interactive shell) stays
// ignored.
func (a *app) exitOnSignal() {
	var sigs []os.Signal
	// SIGHUP too: a terminal closed under a compact left its temporary
	// file. One ignored (nohup) stays so.
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	if len(sigs) == 0 {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		sig := <-ch
		signal.Stop(ch)
		n := a.cleanups.interrupt()
		// INVARIANT: interrupt keeps mu.
		fmt.Fprint(a.stderr, a.interruptMessageLocked(sig, n))
		os.Exit(signalExit(sig))
	}()
}

// interruptMessageLocked is the line an interrupt by sig prints, once it
// removed n files: what stopped the command, what it removed and what it
// leaves (cleanups.note). REQUIRES: a.cleanups.mu held.
func (a *app) interruptMessageLocked(sig os.Signal, n int) string {
	what := ""
	if n > 0 {
		what = "; removed the files it was making"
	}
	if note := a.cleanups.note; note != "" {
		what += "; " + escapeControls(note) // its paths: one line, as errors
	}
	erase := ""
	if a.isTerminal {
		erase = "\r\x1b[K" // the progress bar's line
	}
	return fmt.Sprintf("%sfolio: interrupted (%v)%s\n", erase, sig, what)
}

// outputPlaced, set by tests, runs once a command put the file it made
// at path, where an interrupt no longer removes it.
var outputPlaced func(c *cleanups, path string)

// inPlaceCommitted, set by tests, runs once put's or delete's commit has
// returned.
var inPlaceCommitted func(a *app)

// signalExit is the exit status for a command a signal stopped: 128 +
// its number, as shells report it.
func signalExit(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitFail
}
