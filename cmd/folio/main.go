// Command folio is the operator's tool for folio databases: inspect,
// check, dump, load, compact, back up and benchmark them.
//
// Exit codes: 0 success; 1 the database has problems (check, pages, page) or the
// operation failed, a file it cannot use included (missing, existing, a
// directory where a file is wanted); 2 bad usage, the command line itself
// (arguments, flags, one file named twice); 130 (SIGINT) or 143 (SIGTERM)
// interrupted, with the files the command was making removed
// (interrupt.go); killed by SIGPIPE (141 in a shell) writing into a pipe
// whose reader is gone, as cat is.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/foliodb/folio"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes; a command stopped by a signal exits 128 + its number
// (signalExit).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError marks an error as bad usage (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// commands holds the constructors of the subcommands; each command's file
// adds its own in an init function.
var commands []func(*app) *cobra.Command

// app is the state shared by the commands of one run.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	timeout        time.Duration
	// isTerminal reports whether stderr is a terminal (progress bars).
	isTerminal bool
	// out is stdout, remembering its first write error.
	out *outWriter
	// stdinClosed is set when standard input was closed (stdClosed).
	stdinClosed bool
	// dbPath is the first database the command opened (openDBWith), and
	// cmdName the command: a failure on a damaged page names "folio
	// check dbPath" (damageHint).
	dbPath, cmdName string
	// cleanups removes the files a command is making if it is
	// interrupted (interrupt.go).
	cleanups cleanups
	// running is set once cobra has accepted the command line and the
	// command runs: an error before that is cobra's verdict on the
	// command line (an unknown command or flag, missing arguments), bad
	// usage whatever it says, and one after it is the command's failure.
	// We rejected telling them apart by their text: a failure naming a
	// key "accepts terms" or a file "unknown command.db" is no usage error.
	running bool
	// showsFallback is set by a command whose report says when the
	// database was opened from its older meta page (info, check), so
	// openDBWith does not warn of it on stderr too.
	showsFallback bool
}

// newApp returns the app for a run writing to the given streams.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	out := &outWriter{w: stdout}
	return &app{stdin: stdin, stdout: out, stderr: stderr, isTerminal: isTerminal(stderr), out: out}
}

// newRoot builds the command tree writing to the given streams.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "folio",
		Short:         "Inspect, check, dump, load, compact and benchmark folio databases",
		SilenceUsage:  true,
		SilenceErrors: true,
		// cobra's "Did you mean this?" took three lines more; usageHint
		// says it in the one line.
		DisableSuggestions:         true,
		SuggestionsMinimumDistance: 2, // cobra's default, set where it suggests
		Version:                    version(),
	}
	root.SetVersionTemplate("folio {{.Version}}\n")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().DurationVar(&a.timeout, "timeout", 5*time.Second,
		"how long to wait for the database file lock held by another process (0: forever)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// An unknown flag after an argument may be a key or a value that
		// starts with "-" (get DB B -k), and one no flag could be named
		// (info -1, info -old.db) a file: say how to give one.
		var unknown *pflag.NotExistError
		if errors.As(err, &unknown) && (len(c.Flags().Args()) > 0 || !flagName(unknown)) {
			return usageError{fmt.Errorf(`%w; an argument that starts with "-" goes after "--"`, err)}
		}
		return usageError{err}
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if a.timeout < 0 {
			return usagef("--timeout %v: want 0 (wait forever) or more", a.timeout)
		}
		// NB: cobra checks these after this hook; check them first, so
		// that all that fails after it is the command.
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return usageError{err}
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return usageError{err}
		}
		a.running = true
		a.cmdName = cmd.Name()
		return nil
	}
	for _, mk := range commands {
		root.AddCommand(mk(a))
	}
	// NB: cobra's completion command only holds the shells' commands, and
	// cobra shows the help of such a command, exit 0, whatever follows it:
	// "folio completion bsh > file" wrote the help into file.
	root.InitDefaultCompletionCmd()
	if comp, _, err := root.Find([]string{"completion"}); err == nil && comp != root {
		comp.Args = cobra.ArbitraryArgs
		comp.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			var shells []string
			for _, sub := range cmd.Commands() {
				shells = append(shells, sub.Name())
			}
			return usagef("completion: unknown shell %q (want %s or %s)", args[0],
				strings.Join(shells[:len(shells)-1], ", "), shells[len(shells)-1])
		}
	}
	// NB: cobra's help command answers a word naming no command with
	// "Unknown help topic" and the root's usage, exit 0: a script asking
	// for help on a command this folio lacks went on. It says what
	// "folio WORD" says, bad usage.
	root.InitDefaultHelpCmd()
	if help, _, err := root.Find([]string{"help"}); err == nil && help != root && help.Run != nil {
		show := help.Run
		help.RunE = func(cmd *cobra.Command, args []string) error {
			if _, _, err := root.Find(args); err != nil {
				return usageError{fmt.Errorf("%w (%s)", err, usageHint(root, err))}
			}
			show(cmd, args)
			return nil
		}
	}
	return root
}

// run executes the command line args on the given streams and returns
// the exit code, with no signal handling (main adds it): the tests run
// commands in process through it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newApp(stdin, stdout, stderr).run(args)
}

// run executes the command line args and returns the exit code.
func (a *app) run(args []string) int {
	root := newRoot(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err != nil && !a.running && cmd != nil {
		// cobra's verdict ("accepts 3 arg(s), received 2") says nothing
		// of which arguments the command takes.
		err = usageError{fmt.Errorf("%w (%s)", err, usageHint(cmd, err))}
	}
	// An interrupt being handled exits before this returns: a failure it
	// caused (its file removed from under the command) goes unreported.
	a.cleanups.settle()
	if err == nil && a.out.err != nil {
		werr := a.out.err
		if pe := (*fs.PathError)(nil); errors.As(werr, &pe) {
			werr = pe.Err // "write /dev/stdout: ": the words before say it
		}
		err = fmt.Errorf("write standard output: %w", werr)
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(a.stderr, "folio:", escapeControls(a.damageHint(err, errorMessage(err))))
	var ue usageError
	if errors.As(err, &ue) || !a.running {
		return exitUsage
	}
	return exitFail // checkFailed too
}

// usageHint points at the usage of cmd, the command cobra refused with
// err, and for a misspelt command at the ones it may have meant.
func usageHint(cmd *cobra.Command, err error) string {
	if !cmd.HasParent() {
		// NB: cobra's words, "unknown command %q for %q", are the only
		// place the word it could not find is kept.
		var word, root string
		if _, serr := fmt.Sscanf(err.Error(), "unknown command %q for %q", &word, &root); serr == nil {
			if s := cmd.SuggestionsFor(word); len(s) > 0 {
				return fmt.Sprintf("did you mean %s? see %s --help", strings.Join(s, " or "), cmd.CommandPath())
			}
		}
		return "see " + cmd.CommandPath() + " --help"
	}
	return fmt.Sprintf("usage: %s; see %s --help", cmd.UseLine(), cmd.CommandPath())
}

// outWriter is standard output, remembering the first error writing it:
// a command whose report went into a full disk or a closed pipe has not
// done what it was asked, even when what it printed was only a summary,
// and must not exit 0. One check here covers every Fprintf of every
// command.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// checkFailed is returned when a command found problems in the database.
type checkFailed struct{ n int }

func (e checkFailed) Error() string {
	return fmt.Sprintf("%d %s found", e.n, plural(e.n, "problem", "problems"))
}

// isTerminal reports whether w is a terminal (isTerminalFile).
func isTerminal(w io.Writer) bool {
	if o, ok := w.(*outWriter); ok {
		w = o.w
	}
	f, ok := w.(*os.File)
	return ok && isTerminalFile(f)
}

// openDB opens an existing database. Read-only opens take a shared lock
// and never change the file. A lock held elsewhere fails within --timeout
// with a message that says so.
func (a *app) openDB(path string, readOnly bool) (*folio.DB, error) {
	return a.openDBWith(path, folio.Options{ReadOnly: readOnly})
}

// noSuchFile is the refusal of a database path that names no file; a
// dangling symbolic link says so, since ls lists the name.
func noSuchFile(path string) error {
	if to, err := os.Readlink(path); err == nil {
		return pathErrorf(path, "no such file: a symbolic link to %s, which does not exist", to)
	}
	return pathErrorf(path, "no such file")
}

// openDBWith is openDB with options; a.timeout is filled in, and every
// page's checksum is verified as it is read: the tool is what an operator
// reaches for when a file may be damaged, so get and keys must not print
// damaged bytes as data, and put must not copy a damaged page into a new
// commit with a fresh checksum (laundering the damage). A read-only
// open of a database whose write-ahead log holds commits not yet in the
// file fails with a message naming the command that replays them
// (logPendingError).
func (a *app) openDBWith(path string, opts folio.Options) (*folio.DB, error) {
	if a.dbPath == "" {
		a.dbPath = path
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, noSuchFile(path)
	}
	if err != nil {
		return nil, notReached(path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a database file", path)
	}
	if err := a.notStdout(path, fi); err != nil {
		return nil, err
	}
	// NB: folio.Open treats an empty file as absent and builds a database
	// in its place when opening read-write; a tool must not do that to a
	// file it was only asked to use.
	if fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, pathErrorf(path, "%w (the file is empty)", folio.ErrInvalid)
	}
	opts.Timeout = a.timeout
	opts.VerifyChecksums = true
	if _, err := os.Stat(folio.LogDir(path)); err == nil && !opts.ReadOnly {
		// Keep a WAL-mode database in WAL mode: an open without WAL would
		// replay the log and remove it.
		opts.WAL = true
	}
	db, err := folio.Open(path, 0o600, &opts)
	if errors.Is(err, folio.ErrTimeout) {
		return nil, lockTimeout(path, a.timeout, err)
	}
	if errors.Is(err, folio.ErrLogPending) {
		return nil, newLogPendingError(path)
	}
	if errors.Is(err, folio.ErrLogUnreachable) {
		return nil, logUnreachableHint(path, err)
	}
	if err != nil {
		// Some open errors (a file too short to be a database) do not
		// name the file.
		return nil, withPath(path, err)
	}
	a.warnFallback(db)
	return db, nil
}

// logUnreachableHint is err, Open's refusal of the write-ahead log path
// of the database at path (not a directory, or a symbolic link to
// nothing: the log on a disk not mounted), which says what to do; one to
// be moved aside ends with the command that does it.
func logUnreachableHint(path string, err error) error {
	if !strings.HasSuffix(err.Error(), " move it aside") {
		return err
	}
	return &movedAsideError{err, moveAside("it holds no log; to open the database, move it aside", folio.LogDir(path), ".moved")}
}

// warnFallback says on stderr, in the library's note (Info.MetaFallback),
// when Open deviated from the file as written. Either it used one meta
// page, the other unusable (Info.OlderMeta): when that was the newest
// (it, or a page of its commit, damaged or cut off), what every command
// then reads, copies or writes is the state before the newest commit,
// and a read-write open makes that for good. Or it rebuilt the free list
// from the tree (Info.FreelistRebuilt): the state is the newest, and only
// the list's page was lost. The library says so only to a Logger, and a
// command reporting "ok", or copying the database, without a word of it
// hid that a commit or a page was lost.
func (a *app) warnFallback(db *folio.DB) {
	if a.showsFallback {
		return
	}
	if in, err := db.Info(); err == nil && in.MetaFallback != "" {
		fmt.Fprintf(a.stderr, "folio: warning: %s\n", escapeControls(db.Path()+": "+in.MetaFallback))
	}
}

// notStdout fails, as bad usage, when standard output is the regular
// file at path, whose FileInfo is fi: "folio dump a.db >> a.db" would
// write the dump, or any command its report, into the file it reads.
// Commands open their files before they write anything, so this check
// comes first. (A device is no database, and /dev/null both input and
// output is left to fail as what it is.)
func (a *app) notStdout(path string, fi os.FileInfo) error {
	f, ok := a.out.w.(*os.File)
	if !ok || !fi.Mode().IsRegular() {
		return nil
	}
	if out, err := f.Stat(); err == nil && os.SameFile(fi, out) {
		return usagef("standard output is %s itself: not writing into it (redirect the output elsewhere)", path)
	}
	return nil
}

// needStdin fails when standard input is closed, for a command about to
// read its data there (put without VALUE, load): it would take nothing
// for the data, an empty value or an empty dump (stdClosed).
func (a *app) needStdin(cmd *cobra.Command) error {
	if !a.stdinClosed {
		return nil
	}
	return fmt.Errorf("standard input is closed (or is /dev/null open for reading and writing, "+
		"which a closed one becomes in a Go program): %s has nothing to read; "+
		"for empty input, redirect it with < /dev/null", cmd.Name())
}

// isStdout reports whether path names the file standard output is
// (/dev/stdout, /dev/fd/1, or the file by its name).
func (a *app) isStdout(path string) bool {
	f, ok := a.out.w.(*os.File)
	if !ok {
		return false
	}
	out, err := f.Stat()
	if err != nil {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, out)
}

// namesPath reports whether msg names path as a word of its own ("open
// data: ...", "data is held"), not inside another word: a file named
// "data" is not named by "not a folio database".
func namesPath(msg, path string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], path)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(path)
		before := start == 0 || msg[start-1] == ' '
		after := end == len(msg) || msg[end] == ':' || msg[end] == ' '
		if before && after {
			return true
		}
		i = start + 1
	}
}

// logPendingError is what a read-only command says of a database whose
// write-ahead log holds commits the file does not (a program in WAL mode
// stopped without closing it): they must be replayed by a read-write open
// first, and folio checkpoint is the one that does nothing else.
// unwritable is the file or log directory this user cannot write, if
// any: checkpoint would fail there (EACCES), so the advice says who can
// run it.
type logPendingError struct{ path, unwritable string }

func newLogPendingError(path string) logPendingError {
	e := logPendingError{path: path}
	for _, p := range []string{path, folio.LogDir(path)} {
		if !canWrite(p) {
			e.unwritable = p
			break
		}
	}
	return e
}

func (e logPendingError) Error() string {
	who := ""
	if e.unwritable != "" {
		who = fmt.Sprintf(" as a user who can write %s and %s (this one cannot write %s)",
			e.path, folio.LogDir(e.path), e.unwritable)
	}
	return fmt.Sprintf("%s: its write-ahead log %s holds commits not yet in the file "+
		"(a program using WAL mode stopped without closing the database); "+
		"run \"folio checkpoint %s\"%s to replay them into the file, then try again",
		e.path, folio.LogDir(e.path), shellQuote(e.path), who)
}

func (e logPendingError) Unwrap() error { return folio.ErrLogPending }

func main() {
	a := newApp(os.Stdin, os.Stdout, os.Stderr)
	a.stdinClosed = stdClosed(os.Stdin)
	a.exitOnSignal()
	// NB: an interrupt the command saw exits before run returns (settle);
	// one coming later finds nothing tracked and races this exit.
	os.Exit(a.run(os.Args[1:]))
}

// flagName reports whether the word an unknown-flag error quotes could
// name a flag: letters and dashes, as every folio flag's name.
func flagName(e *pflag.NotExistError) bool {
	w := e.GetSpecifiedShortnames() // the whole -xyz group, if it was one
	if w == "" {
		w = e.GetSpecifiedName()
	}
	for _, r := range w {
		if r != '-' && !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
