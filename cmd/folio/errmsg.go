package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"

	"github.com/foliodb/folio"
)

// How a failure becomes the one "folio: ..." line on stderr.
//
// The library's errors start with "folio: " (and wrap others that do),
// which the line says once; a command's context can repeat what the
// error it wraps begins with ("create X: " around "create X: ..."). We
// rejected cutting the text at ": " and dropping the parts that read
// "folio" (the first way this was done): a database file named folio
// then lost its name ("folio: no such file"), and a bucket or key named
// folio could lose it too. errorMessage follows the chain of wrapped
// errors instead and drops a "folio: " only where a library error's text
// begins.
//
// INVARIANT: the tool's own errors never begin with a path in a plain
// fmt.Errorf or errors.New: a path goes first through pathErrorf (or one
// of the tool's own error types), since a plain error beginning "folio: "
// is taken for the library's (TestNoPathFirstErrorf checks).

// libPrefix opens the text of every error of the library (floor 3 and
// below; "folio/page: " and "folio/wal: " are kept, as they say where).
const libPrefix = "folio: "

// pathError is an error about the file at path: "PATH: err".
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// pathErrorf is fmt.Errorf(format, args...) about the file at path.
func pathErrorf(path, format string, args ...any) error {
	return &pathError{path: path, err: fmt.Errorf(format, args...)}
}

// toolPkg is the package path of the tool's own error types.
var toolPkg = reflect.TypeOf(pathError{}).PkgPath()

// ownText reports whether err is of one of the tool's own error types
// (pathError, lockedError, logPendingError...), whose text is the tool's
// even where it begins with a path.
func ownText(err error) bool {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == toolPkg
}

// errorMessage is err's text for the one "folio: " line.
func errorMessage(err error) string {
	if err == nil {
		return ""
	}
	if pe, ok := err.(*pathError); ok {
		own, inner := dropRepeat(pe.path+": ", errorMessage(pe.err))
		return own + inner
	}
	s := err.Error()
	var wrapped []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		wrapped = []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		wrapped = u.Unwrap()
	}
	// Place the text of each wrapped error in s, from the last back: a
	// wrapper writes its own words before what it wraps. An error whose
	// text does not hold what it wraps (logPendingError) stays as it is.
	type span struct {
		start, end int
		msg        string
	}
	var spans []span // last first
	end := len(s)
	for i := len(wrapped) - 1; i >= 0; i-- {
		if wrapped[i] == nil {
			continue
		}
		inner := wrapped[i].Error()
		j := strings.LastIndex(s[:end], inner)
		if inner == "" || j < 0 {
			continue
		}
		spans = append(spans, span{j, j + len(inner), errorMessage(wrapped[i])})
		end = j
	}
	lib := !ownText(err)
	var b strings.Builder
	pos := 0
	for i := len(spans) - 1; i >= 0; i-- {
		sp := spans[i]
		own := s[pos:sp.start]
		if pos == 0 && lib {
			own = strings.TrimPrefix(own, libPrefix)
		}
		own, inner := dropRepeat(own, sp.msg)
		b.WriteString(own)
		b.WriteString(inner)
		pos = sp.end
	}
	rest := s[pos:]
	if pos == 0 && lib {
		rest = strings.TrimPrefix(rest, libPrefix)
	}
	b.WriteString(rest)
	return b.String()
}

// dropRepeat says once what own, a wrapper's words before the error it
// wraps, and next, that error's message, both say where they meet. When
// own's last part and next's first are the same ("create X: " before
// "create X: open X.new: ..."), or next's first names a file own's last
// only names ("X: " before "open X: ..."), own's is dropped; when own's
// last names the file next's first only names ("dump X: " before "X:
// bucket ..."), next's is; when next begins with the name own's last
// ends in, followed by a space ("backup X: " before "X is locked ..."),
// own's is. A part names X where it is X or ends in " X".
func dropRepeat(own, next string) (string, string) {
	body, ok := strings.CutSuffix(own, ": ")
	if !ok {
		return own, next
	}
	start := 0
	if i := strings.LastIndex(body, ": "); i >= 0 {
		start = i + 2
	}
	last := body[start:]
	// "backup X: " before "X is locked by another process": next is a
	// sentence about X, naming it first; own's part only names it again.
	if word := last[strings.LastIndex(last, " ")+1:]; word != "" && strings.HasPrefix(next, word+" ") {
		return own[:start], next
	}
	first, rest, ok := strings.Cut(next, ": ")
	if last == "" || !ok {
		return own, next
	}
	switch {
	case first == last || strings.HasSuffix(first, " "+last):
		return own[:start], next
	case strings.HasSuffix(last, " "+first):
		return own, rest
	}
	return own, next
}

// createError is the error of making the new file path through a
// temporary file beside it (backup, dump -o, compact, migrate, a load's
// new database): named after path, which the user gave, not after the
// temporary name, which they did not ("create X: open .X.tmp-123:
// permission denied" named both, and the second one nowhere to be found).
// A file-system error is cut to its cause; a missing directory is named.
func createError(path string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return pathErrorf(path, "cannot create it: %w", err)
	}
	dir := filepath.Dir(path)
	if _, serr := os.Stat(dir); errors.Is(pe.Err, fs.ErrNotExist) && errors.Is(serr, fs.ErrNotExist) {
		return pathErrorf(path, "cannot create it: directory %s: %w", dir, pe.Err)
	}
	if f := fileOnPath(path); f != "" && errors.Is(pe.Err, syscall.ENOTDIR) {
		return pathErrorf(path, "cannot create it: %s is a file, not a directory", f)
	}
	return pathErrorf(path, "cannot create it: %w", pe.Err)
}

// notReached is err, the failure to stat or open the file at path; when
// path goes through a file as if it were a directory ("DB/x.db", "DB/"),
// it names that file: "stat DB/x.db: not a directory" left the user to
// guess which part was meant.
func notReached(path string, err error) error {
	if !errors.Is(err, syscall.ENOTDIR) {
		return err
	}
	if f := fileOnPath(path); f != "" {
		return pathErrorf(path, "no such file: %s is a file, not a directory", f)
	}
	return err
}

// fileOnPath is the first part of path taken for a directory that is
// something else, or "" if there is none: path's own name too when it
// ends in "/".
func fileOnPath(path string) string {
	p := strings.TrimRight(path, "/")
	if p == path {
		p = filepath.Dir(path)
	}
	var dirs []string
	for ; p != "" && p != "." && p != "/"; p = filepath.Dir(p) {
		dirs = append(dirs, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if fi, err := os.Stat(dirs[i]); err == nil && !fi.IsDir() {
			return dirs[i]
		}
	}
	return ""
}

// damageHint is msg, the message of err, ending with the command that
// lists all the damage when err comes from a damaged file: the error
// names the first damaged page the command met, and there may be more.
// A message naming folio check already (backup's, checkpoint's) does not
// name it twice, and check's own is left as it is. A damaged log's
// refusal ends with the way past it (logAsideHint) first.
func (a *app) damageHint(err error, msg string) string {
	damaged := errors.Is(err, folio.ErrCorrupt) || errors.Is(err, folio.ErrChecksum) || errors.Is(err, folio.ErrLogCorrupt)
	if !damaged || a.dbPath == "" || a.cmdName == "check" {
		return msg
	}
	if errors.Is(err, folio.ErrLogCorrupt) {
		msg = logAsideHint(msg, a.dbPath)
	}
	if !strings.Contains(msg, "folio check ") {
		msg = fmt.Sprintf("%s; run \"folio check %s\" to list all the damage", msg, shellQuote(a.dbPath))
	}
	return msg
}

// logAsideHint is msg, Open's refusal of the log of the database at path
// as damaged, ending with the command that moves the log aside: the
// library's message ends with the way past it, "move DIR aside", which
// this makes "move the log aside: mv DIR DIR.damaged". Moved aside, the
// log is not read, and the file opens as of its last checkpoint. NB: the
// refusal stays (README, WAL mode, "Recovery"): past a damaged record
// header the log cannot tell a record from a value's bytes, so only the
// user can accept losing what the log alone holds, which is nothing when
// the program closed the database cleanly (Close checkpoints). No option
// skips it: Open already reads every log with wal's AllowHole, which
// passes over damaged payloads, never a header.
func logAsideHint(msg, path string) string {
	dir := folio.LogDir(path)
	if lib, ok := strings.CutSuffix(msg, " move "+dir+" aside"); ok {
		return lib + " move the log aside: " + logAsideCmd(path)
	}
	// NB: a message without the library's way past (a path the library
	// spelt otherwise) still gets one.
	return msg + "; " + logAsideWay + logAsideCmd(path)
}

// logAsideWay is the way past a damaged log Open refuses, in the
// library's words (Open's error ends so), before the command.
const logAsideWay = "to open the file without it, losing the commits only the log holds (none if the database was closed cleanly), move the log aside: "

// logAsideCmd is the command that moves the log of the database at path
// aside.
func logAsideCmd(path string) string {
	return logAside(path).Command
}

// logAside is the way past the damaged log of the database at path, for
// check --json.
func logAside(path string) *wayPastJSON {
	return moveAside(strings.TrimSuffix(logAsideWay, ": "), folio.LogDir(path), ".damaged")
}

// moveAside is the way past the file at from, moved aside to from+suffix,
// advice saying what that costs.
func moveAside(advice, from, suffix string) *wayPastJSON {
	to := from + suffix
	return &wayPastJSON{Advice: advice, Command: fmt.Sprintf("mv %s %s", shellQuote(from), shellQuote(to)), From: from, To: to}
}

// movedAsideError is an error whose way past is a move, err's message
// ending with its command (way.Command); check --json gives way too.
type movedAsideError struct {
	err error
	way *wayPastJSON
}

func (e *movedAsideError) Error() string { return e.err.Error() + ": " + e.way.Command }
func (e *movedAsideError) Unwrap() error { return e.err }

// logAsideNote is check's last word on damage to the log of the database
// at path that Open refuses: the other commands' refusal sends the user
// to check, which listed the damage and said nothing of what to do.
func logAsideNote(path string) string {
	return "note: Open refuses " + path + " for the damage to its log; " + logAsideWay + logAsideCmd(path)
}
