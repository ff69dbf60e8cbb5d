package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newCheckCmd) }

// checkJSON is check's --json output.
type checkJSON struct {
	Path     string         `json:"path"`
	OK       bool           `json:"ok"`
	TxID     int            `json:"txid"`
	Pages    uint64         `json:"pages"`
	Keys     int64          `json:"keys"`
	Buckets  int64          `json:"buckets"`
	Problems []checkProblem `json:"problems"`
}

type checkProblem struct {
	// Page is the page the problem was found on; nil when the problem is
	// not tied to one page.
	Page  *uint64 `json:"page"`
	Error string  `json:"error"`
}

func newCheckCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check DB",
		Short: "Verify a database: checksums, tree order, page accounting, lost writes",
		Long: `Check reads every page reachable from the current meta page and verifies
it: every page's CRC-32C and the checksum its parent expects of it (a write
the disk lost, or a page read from the wrong place), key order within pages
and against their parents, equal leaf depth, large-value runs and bucket
headers, and that reachable, free and pending pages together cover the
file with no page twice and none leaked.

Every problem is listed with its page id, and the exit status is 1. A clean
database prints "ok" with the pages, keys and buckets checked.

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio check app.db
  folio check --json app.db > report.json || echo "app.db is damaged"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			var res checkJSON
			db, err := a.openDB(args[0], true)
			switch {
			case errors.Is(err, folio.ErrCorrupt) || errors.Is(err, folio.ErrChecksum):
				// The library will not open it: that is the first
				// problem, and the pages say more.
				res = checkRefused(a, args[0], err)
			case err != nil:
				return err
			default:
				defer closeDB(db, &err)
				if res, err = checkDB(db, args[0]); err != nil {
					return err
				}
			}
			if asJSON {
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
	return cmd
}

// checkDB runs Tx.Check and, on a clean database, counts keys and buckets
// in the same snapshot.
func checkDB(db *folio.DB, path string) (checkJSON, error) {
	res := checkJSON{Path: path, Problems: []checkProblem{}}
	in, err := db.Info()
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	res.Pages = uint64(in.HighPage)
	err = db.View(func(tx *folio.Tx) error {
		res.TxID = tx.ID()
		for perr := range tx.Check() {
			res.Problems = append(res.Problems, problemOf(perr))
		}
		if len(res.Problems) > 0 {
			// Counting would meet the same damage; the problems say more.
			return nil
		}
		return tx.ForEach(func(name []byte, b *folio.Bucket) error {
			return countBucket(b, &res.Keys, &res.Buckets)
		})
	})
	if err != nil {
		if !errors.Is(err, folio.ErrCorrupt) {
			return res, fmt.Errorf("%s: check: %w", path, err)
		}
		// Check missed what the count met: report it as a problem all
		// the same.
		res.Problems = append(res.Problems, problemOf(err))
	}
	res.OK = len(res.Problems) == 0
	return res, nil
}

// checkRefused reports a file the library refused to open: the open
// error, then whatever the page walk of pages.go finds wrong, page by page.
func checkRefused(a *app, path string, openErr error) checkJSON {
	res := checkJSON{Path: path, Problems: []checkProblem{problemOf(openErr)}}
	pf, err := openRawPageFile(path, a.timeout)
	if err != nil {
		res.Problems = append(res.Problems, checkProblem{Error: "reading the meta pages: " + err.Error()})
		return res
	}
	defer pf.Close()
	m := walkPages(pf)
	res.Pages, res.TxID = uint64(m.meta.High), int(m.meta.TxID)
	ids := make([]page.ID, 0, len(m.runs))
	for id := range m.runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	first := res.Problems[0].Page
	for _, id := range ids {
		u := m.runs[id]
		if (u.checksum == "ok" && u.problem == "") || (first != nil && *first == uint64(id)) {
			continue
		}
		pid := uint64(id)
		msg := fmt.Sprintf("%v page (%s): checksum %s", u.kind, u.note, u.checksum)
		if u.problem != "" {
			msg += "; " + u.problem
		}
		res.Problems = append(res.Problems, checkProblem{Page: &pid, Error: msg})
	}
	for _, p := range m.problems {
		res.Problems = append(res.Problems, checkProblem{Error: p})
	}
	return res
}

func problemOf(err error) checkProblem {
	p := checkProblem{Error: err.Error()}
	var ce *folio.CorruptError
	if errors.As(err, &ce) {
		id := uint64(ce.Page)
		p.Page = &id
	}
	return p
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
	// Every problem starts with the same "folio: check PATH: "; the
	// summary line names the file once instead.
	prefix := "folio: check " + res.Path + ": "
	for _, p := range res.Problems {
		msg := strings.TrimPrefix(p.Error, prefix)
		if p.Page != nil {
			fmt.Fprintf(a.stdout, "page %d: %s\n", *p.Page, msg)
		} else {
			fmt.Fprintf(a.stdout, "page -: %s\n", msg)
		}
	}
	if res.OK {
		fmt.Fprintf(a.stdout, "ok: %d pages checked at txid %d, %d keys in %d buckets\n",
			res.Pages, res.TxID, res.Keys, res.Buckets)
		return
	}
	fmt.Fprintf(a.stdout, "%s: %d problems found at txid %d\n", res.Path, len(res.Problems), res.TxID)
}
