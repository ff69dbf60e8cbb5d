package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newCheckCmd) }

// checkJSON is check's --json output.
type checkJSON struct {
	Path string `json:"path"`
	OK   bool   `json:"ok"`
	// TxID and Pages are nil when no meta page could be read; Keys
	// (nested bucket names not included) and Buckets are counted only on
	// a database with no problems, nil otherwise: a count would stop at
	// the damage, and 0 would read as an empty database.
	TxID     *int           `json:"txid"`
	Pages    *uint64        `json:"pages"`
	Keys     *int64         `json:"keys"`
	Buckets  *int64         `json:"buckets"`
	Problems []checkProblem `json:"problems"`
	// FromPage is the page whose tree alone was checked (--from-page);
	// Pages, Keys and Buckets are then nil: the file was not walked.
	FromPage *uint64 `json:"from_page,omitempty"`
	// Log is the write-ahead log's part, when the database has one.
	Log *checkLogJSON `json:"log,omitempty"`
	// MetaFallback is the library's note (folio.Info.MetaFallback) of
	// how its open deviated, for people; OlderMeta and FreelistRebuilt
	// (the library's fields of those names) say which way, for scripts.
	// Neither is a problem: a commit a crash tore is one the library
	// never acknowledged, and a damaged free list is reported as a
	// problem of its own page. OlderMeta and FreelistRebuilt are false
	// when the library did not open the database.
	MetaFallback string `json:"meta_fallback,omitempty"`
	// OlderMeta: opened from its older meta page, what was checked being
	// the state before the newest commit, which is lost.
	OlderMeta bool `json:"older_meta"`
	// FreelistRebuilt: the free list was rebuilt from the tree.
	FreelistRebuilt bool `json:"freelist_rebuilt"`
	// WayPast is the way past the log, when Open refuses the database
	// for it (damage listed in Problems, or a log path that is no
	// directory): the text report's note, or the refusal's last words.
	WayPast *wayPastJSON `json:"way_past,omitempty"`
	// logRefused is set when Open refuses the database for the damage
	// to its log listed in Problems: the text report ends with the way
	// past it (logAsideNote).
	logRefused bool
}

// wayPastJSON is the move that gets a database past a log Open refuses,
// for a script to make: From renamed To. Advice says what it costs.
type wayPastJSON struct {
	Advice  string `json:"advice"`
	Command string `json:"command"` // the mv command, quoted for the shell
	From    string `json:"from"`
	To      string `json:"to"`
}

type checkProblem struct {
	// Page is the page the problem was found on; nil when the problem is
	// not tied to one page.
	Page *uint64 `json:"page"`
	// Segment and Offset place a problem found in the write-ahead log: the
	// segment file's name in the log directory and the frame's offset.
	Segment string `json:"segment,omitempty"`
	Offset  *int64 `json:"offset,omitempty"`
	Error   string `json:"error"`
	// err is the error Error is the text of, if there is one: a message
	// saying the problem wraps it (cause), so the error line drops the
	// library's "folio: " from it.
	err error
}

// cause is the problem as an error, to wrap in a message.
func (p checkProblem) cause() error {
	if p.err != nil {
		return p.err
	}
	return errors.New(p.Error)
}

// checkLogJSON describes the write-ahead log as check read it.
type checkLogJSON struct {
	Dir     string `json:"dir"`
	OK      bool   `json:"ok"`
	Records int64  `json:"records"` // whole records read, LSNs FirstLSN to LastLSN
	// Of those, records of page images and of operations (a transaction
	// too big for images); each decoded as recovery would.
	PageRecords int64 `json:"page_records"`
	OpRecords   int64 `json:"operation_records"`
	// AnchorRecords name the file state the records after them follow.
	AnchorRecords int64  `json:"anchor_records"`
	Bytes         int64  `json:"bytes"` // used by the live segments
	FirstLSN      uint64 `json:"first_lsn,omitempty"`
	LastLSN       uint64 `json:"last_lsn"`
}

func newCheckCmd(a *app) *cobra.Command {
	var asJSON bool
	var fromPage uint64
	cmd := &cobra.Command{
		Use:   "check DB",
		Short: "Verify a database: checksums, tree order, page accounting, lost writes, the log",
		Long: `Check reads every page reachable from the current meta page and verifies
it: every page's CRC-32C and the checksum its parent expects of it (a write
the disk lost, or a page read from the wrong place), key order within pages
and against their parents, equal leaf depth, large-value runs and bucket
headers, and that reachable, free and pending pages together cover the
file with no page twice and none leaked.

A database in WAL mode (one with a write-ahead log, the directory DB.wal)
has its log verified too, read-only: every record's checksums, sequence
numbers and segment, every record's contents decoded as recovery would
(page images: their checksums and headers; operations: every field), and
a damaged record that later durable ones vouch for, which is reported
with its segment file and offset (a torn tail, left
by a crash mid-append, is not damage: the log ends before it). The log's
records, bytes and last sequence number (LSN) are printed. A log holding
commits not yet in the file (a WAL-mode program crashed) must be replayed
by "folio checkpoint DB" before the file can be checked.

Every problem is listed with its page id (or log segment), and the exit
status is 1. Damage to the log that Open refuses ends with the way past
it, moving the log aside (in --json, "way_past": its "advice", "command",
and the move, "from" and "to"). With --json, a database that cannot be
checked at all (no such file, a log to replay first) is a report too, its
one problem the reason. A clean database prints "ok" with the pages, keys
and buckets checked.

--from-page ID checks only the tree under page ID, as bbolt's check does:
its pages' checksums, structure and key order, and the buckets under it,
but not the accounting of the file's pages. An ID that is not a branch or
leaf page in use fails the command (exit 1).

The database is opened read-only (shared lock); neither the file nor the
log is changed.`,
		Example: `  folio check app.db
  folio check --json app.db > report.json || echo "app.db is damaged"
  folio check --from-page 1234 app.db   # the tree under page 1234 alone
  folio checkpoint app.db && folio check app.db   # after a WAL-mode crash`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			path := args[0]
			a.showsFallback = true // a note in the report
			var res checkJSON
			printed := false
			defer func() {
				// A failure before the report (no such file, a log to
				// replay first) is reported in JSON too: a script
				// redirecting --json read an empty report of it. Bad
				// usage is not: its standard output may be the database.
				// A failed write is dropped: err is reported either way.
				var ue usageError
				if asJSON && !printed && err != nil && !errors.As(err, &ue) {
					res := checkJSON{Path: path, Problems: []checkProblem{problemOf(err)}}
					if ma := (*movedAsideError)(nil); errors.As(err, &ma) {
						res.WayPast = ma.way
					}
					_ = printJSON(a.stdout, res)
				}
			}()
			// The database first: its shared lock keeps a writer, and so
			// appends to the log, away while the log is read.
			db, openErr := a.openDB(path, true)
			corrupt := errors.Is(openErr, folio.ErrCorrupt) || errors.Is(openErr, folio.ErrChecksum)
			if openErr != nil && !corrupt && !errors.Is(openErr, folio.ErrLogPending) {
				return openErr
			}
			if db != nil {
				defer closeDB(db, &err)
			}
			var lg *checkLogJSON
			var logProblems []checkProblem
			if dir := folio.LogDir(path); isDir(dir) {
				if lg, logProblems, err = checkLog(dir); err != nil {
					return err
				}
			}
			switch {
			case errors.Is(openErr, folio.ErrLogPending):
				if len(logProblems) == 0 {
					// The log is sound: the file is behind it, and the
					// replay is the fix.
					return openErr
				}
				res = checkJSON{Path: path, Problems: []checkProblem{{Error: openErr.Error()}}}
			case corrupt && errors.Is(openErr, folio.ErrLogCorrupt) && len(logProblems) > 0:
				// The library refused the database for the damage to its
				// log, listed already; the file itself is still walked.
				res = checkRefused(a, path, nil)
				res.logRefused = true
				res.WayPast = logAside(path)
			case corrupt:
				// The library will not open it: that is the first
				// problem, and the pages say more.
				res = checkRefused(a, path, openErr)
			default:
				if res, err = checkDBFrom(db, path, fromPage); err != nil {
					return err
				}
				if in, err := db.Info(); err == nil {
					res.MetaFallback, res.OlderMeta, res.FreelistRebuilt = in.MetaFallback, in.OlderMeta, in.FreelistRebuilt
				}
			}
			res.Log = lg
			if len(logProblems) > 0 {
				res.Problems = append(logProblems, res.Problems...)
			}
			res.OK = len(res.Problems) == 0
			if asJSON {
				printed = true
				if err := printJSON(a.stdout, res); err != nil {
					return err
				}
			} else {
				printCheck(a, res)
			}
			if !res.OK {
				return checkFailed{len(res.Problems)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().Uint64Var(&fromPage, "from-page", 0, "check only the tree under this page (a branch or leaf page in use; 0: the whole file)")
	return cmd
}

// checkLog reads the write-ahead log in dir read-only and replays every
// record, which verifies each one's checksums and place in the sequence.
// Damage is returned as problems naming the segment and offset; an error
// is returned only when the log cannot be read at all.
func checkLog(dir string) (*checkLogJSON, []checkProblem, error) {
	res := &checkLogJSON{Dir: dir}
	lg, err := wal.Open(dir, wal.Options{ReadOnly: true})
	if err == nil {
		res.Bytes, res.LastLSN = lg.Size(), lg.LastLSN()
		var bad []checkProblem
		err = lg.Replay(0, func(lsn uint64, p []byte) error {
			if res.Records == 0 {
				res.FirstLSN = lsn
			}
			res.Records++
			switch kind, _, err := tx.CheckLogRecord(p); {
			case err != nil:
				bad = append(bad, checkProblem{Error: fmt.Sprintf("record %d: %v", lsn, err)})
			case kind == "operations":
				res.OpRecords++
			case kind == "anchor":
				res.AnchorRecords++
			default:
				res.PageRecords++
			}
			return nil
		})
		if err == nil && len(bad) > 0 {
			if cerr := lg.Close(); cerr != nil {
				return nil, nil, cerr
			}
			return res, bad, nil
		}
		if cerr := lg.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		res.OK = true
		return res, nil, nil
	}
	if !errors.Is(err, wal.ErrCorrupt) {
		return nil, nil, pathErrorf(dir, "read the write-ahead log: %w", err)
	}
	return res, []checkProblem{logProblemOf(err)}, nil
}

// logProblemOf places a wal.ErrCorrupt in its segment.
func logProblemOf(err error) checkProblem {
	var ce *wal.CorruptError
	if !errors.As(err, &ce) {
		return checkProblem{Segment: "?", Error: err.Error()}
	}
	off := ce.Offset
	return checkProblem{
		Segment: filepath.Base(ce.Path),
		Offset:  &off,
		Error:   fmt.Sprintf("record %d: %s", ce.LSN, ce.What),
	}
}

// checkDB runs Tx.Check and, on a clean database, counts keys and buckets
// in the same snapshot.
func checkDB(db *folio.DB, path string) (checkJSON, error) { return checkDBFrom(db, path, 0) }

// checkDBFrom is checkDB, checking the tree under page from alone if
// from is not 0 (folio.WithPageId), and then counting nothing.
func checkDBFrom(db *folio.DB, path string, from uint64) (checkJSON, error) {
	res := checkJSON{Path: path, Problems: []checkProblem{}}
	in, err := db.Info()
	if err != nil {
		return res, &pathError{path: path, err: err}
	}
	if from != 0 {
		res.FromPage = &from
	} else {
		res.Pages = new(uint64(in.HighPage))
	}
	var badFrom error
	err = db.View(func(tx *folio.Tx) error {
		res.TxID = new(tx.ID())
		for perr := range tx.Check(folio.WithPageId(from)) {
			if errors.Is(perr, folio.ErrInvalidOptions) {
				// from names no tree: the file is not damaged, the
				// command failed.
				badFrom = perr
				continue
			}
			res.Problems = append(res.Problems, problemOf(perr))
		}
		if len(res.Problems) > 0 || from != 0 {
			// Counting would meet the same damage; the problems say more.
			return nil
		}
		var keys, buckets int64
		err := tx.ForEach(func(name []byte, b *folio.Bucket) error {
			return countBucket(b, &keys, &buckets)
		})
		if err == nil {
			res.Keys, res.Buckets = &keys, &buckets
		}
		return err
	})
	if err != nil {
		if !errors.Is(err, folio.ErrCorrupt) {
			// The library's transaction errors name the file already.
			return res, withPath(path, fmt.Errorf("check: %w", err))
		}
		// Check missed what the count met: report it as a problem all
		// the same.
		res.Problems = append(res.Problems, problemOf(err))
	}
	if badFrom != nil {
		return res, badFrom
	}
	res.OK = len(res.Problems) == 0
	return res, nil
}

// checkRefused reports a file the library refused to open: the open
// error (unless nil: the refusal is reported already), then whatever the
// page walk of pages.go finds wrong, page by page.
func checkRefused(a *app, path string, openErr error) checkJSON {
	res := checkJSON{Path: path, Problems: []checkProblem{}}
	var first *uint64
	if openErr != nil {
		res.Problems = append(res.Problems, problemOf(openErr))
		first = res.Problems[0].Page
	}
	pf, err := openRawPageFile(path, a.timeout)
	var nme noMetaError
	if openErr != nil && errors.As(err, &nme) {
		return res // the open error said why no meta page serves
	}
	if err != nil {
		res.Problems = append(res.Problems, checkProblem{Error: "reading the meta pages: " + err.Error()})
		return res
	}
	defer pf.Close()
	m := walkPages(pf)
	res.Pages, res.TxID = new(uint64(m.meta.High)), new(int(m.meta.TxID))
	ids := make([]page.ID, 0, len(m.runs))
	for id := range m.runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		u := m.runs[id]
		if (u.checksum == "ok" && u.problem == "") || (first != nil && *first == uint64(id)) {
			continue
		}
		pid := uint64(id)
		msg := fmt.Sprintf("%v page (%s): checksum %s", u.kind, u.note, u.checksum)
		if u.problem != "" {
			msg += "; " + u.problemText(id)
		}
		res.Problems = append(res.Problems, checkProblem{Page: &pid, Error: msg})
	}
	for _, p := range m.problems {
		res.Problems = append(res.Problems, checkProblem{Error: p})
	}
	return res
}

func problemOf(err error) checkProblem {
	p := checkProblem{Error: err.Error(), err: err}
	var ce *folio.CorruptError
	if errors.As(err, &ce) {
		id := uint64(ce.Page)
		p.Page = &id
	}
	return p
}

// text is p's message on its line of check's output, after the "page N:
// " (or "log segment S offset O: ") that starts the line. The library's
// problem reads "folio: check PATH: folio: corrupt page N: WHAT"; the
// line says WHAT: errorMessage drops the library's "folio: "s, the
// summary line names the file, and the line's start names the page.
// The library's refusal to open the file ("folio: open PATH: ...") says
// "open refused: " instead. --json keeps the library's text whole.
func (p checkProblem) text(path string) string {
	if p.err == nil {
		return p.Error
	}
	msg := errorMessage(p.err)
	if rest, ok := strings.CutPrefix(msg, "check "+path+": "); ok {
		msg = rest
	} else if rest, ok := strings.CutPrefix(msg, "open "+path+": "); ok {
		msg = "open refused: " + rest
	}
	// NB: only the corrupt error's own text, found whole in msg, is
	// shortened, not the first "corrupt page N: " in msg: a bucket named
	// in the words around it may read that too.
	var ce *folio.CorruptError
	if p.Page == nil || !errors.As(p.err, &ce) || uint64(ce.Page) != *p.Page {
		return msg
	}
	long := errorMessage(ce)
	short, ok := strings.CutPrefix(long, fmt.Sprintf("corrupt page %d: ", ce.Page))
	i := strings.LastIndex(msg, long)
	if !ok || i < 0 {
		return msg
	}
	return msg[:i] + short + msg[i+len(long):]
}

// countBucket adds b's keys (nested bucket names not included) and
// buckets (b included) to keys and buckets.
func countBucket(b *folio.Bucket, keys, buckets *int64) error {
	*buckets++
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			*keys++
			continue
		}
		nested := b.Bucket(k)
		if nested == nil {
			return fmt.Errorf("%w: key %q has neither value nor bucket", folio.ErrCorrupt, k)
		}
		if err := countBucket(nested, keys, buckets); err != nil {
			return err
		}
	}
	return nil
}

func printCheck(a *app, res checkJSON) {
	for _, p := range res.Problems {
		msg := p.text(res.Path)
		if p.Segment != "" {
			off := "?"
			if p.Offset != nil {
				off = fmt.Sprint(*p.Offset)
			}
			fmt.Fprintf(a.stdout, "log segment %s offset %s: %s\n", p.Segment, off, msg)
			continue
		}
		if p.Page != nil {
			fmt.Fprintf(a.stdout, "page %d: %s\n", *p.Page, msg)
		} else {
			fmt.Fprintf(a.stdout, "page -: %s\n", msg)
		}
	}
	switch {
	case res.MetaFallback == "":
	case res.OlderMeta:
		fmt.Fprintf(a.stdout, "note: %s was opened from an older state: %s\n", res.Path, res.MetaFallback)
	case res.FreelistRebuilt:
		fmt.Fprintf(a.stdout, "note: %s was opened from its newest state, with its free list rebuilt: %s\n", res.Path, res.MetaFallback)
	default:
		// NB: check opens read-only, and the library's other note (a
		// free list naming pages in use) comes of read-write opens alone.
		fmt.Fprintf(a.stdout, "note: %s was opened from its newest state: %s\n", res.Path, res.MetaFallback)
	}
	if res.logRefused {
		fmt.Fprintln(a.stdout, logAsideNote(res.Path))
	}
	if lg := res.Log; lg != nil && lg.OK {
		fmt.Fprintf(a.stdout, "log %s: ok: %d records%s, %s, last lsn %d\n",
			lg.Dir, lg.Records, lsnRange(lg), humanBytes(lg.Bytes), lg.LastLSN)
	}
	if res.OK && res.FromPage != nil {
		fmt.Fprintf(a.stdout, "ok: the tree under page %d checked at txid %d\n", *res.FromPage, *res.TxID)
		return
	}
	if res.OK {
		// OK: checkDB read and counted everything.
		fmt.Fprintf(a.stdout, "ok: %d pages checked at txid %d, %s\n",
			*res.Pages, *res.TxID, keysInBuckets(*res.Keys, "in", *res.Buckets))
		return
	}
	at := ""
	if res.TxID != nil {
		at = fmt.Sprintf(" at txid %d", *res.TxID)
	}
	fmt.Fprintf(a.stdout, "%s: %d %s found%s\n", res.Path, len(res.Problems), plural(len(res.Problems), "problem", "problems"), at)
}

func lsnRange(lg *checkLogJSON) string {
	if lg.Records == 0 {
		return ""
	}
	return fmt.Sprintf(" (lsn %d to %d)", lg.FirstLSN, lg.LastLSN)
}
