package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/wal"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newCheckpointCmd) }

func newCheckpointCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkpoint DB",
		Short: "Replay a database's write-ahead log into the file and checkpoint it",
		Long: `Checkpoint opens a database in WAL mode read-write, which replays every
commit its write-ahead log (the directory DB.wal) holds beyond the file,
then checkpoints: the file is synced, its meta page written durably and
the log's records dropped. It prints how many commits were replayed and
the log's size before and after (which need not fall: the segment file
taking appends is kept whole until it fills, then recycled).

A program that closes its database cleanly leaves nothing to replay (Close
checkpoints). One in WAL mode that crashed, or was killed, leaves commits
only in the log: read-only commands (info, check, dump, backup, compact...)
then refuse the database until a read-write open replays them, and this
command is the one that does nothing else. The database stays in WAL mode:
the log directory is kept.

A database without a log has nothing to checkpoint; that is not an error.

Interrupted (SIGINT, SIGTERM: exit 130, 143), checkpoint loses no commit,
and says whether it finished; one that did not leaves the log to the
next checkpoint (a signal during the checkpoint itself waits for it).

The database is opened read-write (exclusive lock): a program holding it
open makes checkpoint fail within --timeout, saying so.`,
		Example: `  folio checkpoint app.db
  folio checkpoint app.db && folio check app.db   # after a crash
  folio checkpoint --timeout 30s app.db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkpointDB(a, args[0])
		},
	}
	return cmd
}

func checkpointDB(a *app, path string) (err error) {
	dir := folio.LogDir(path)
	if !isDir(dir) {
		// No log: open read-only, so a file that is not a database is
		// still reported as one, and nothing is created.
		// NB: no := of err in this block: the deferred close sets the
		// result, which a block's own err would shadow.
		db, oerr := a.openDB(path, true)
		if oerr != nil {
			return oerr
		}
		defer closeDB(db, &err)
		in, ierr := db.Info()
		if ierr != nil {
			return &pathError{path: path, err: ierr}
		}
		fmt.Fprintf(a.stdout, "%s: no write-ahead log (%s does not exist): nothing to checkpoint; the file holds every commit (txid %d)\n",
			path, dir, in.TxID)
		return nil
	}

	// What the file and the log held before: the file's meta (read as
	// the library would pick it) and the log's size. Both are for the
	// report only; an open that fails says why better.
	beforeTxID, err := fileTxID(a, path)
	var locked lockedError
	if errors.As(err, &locked) {
		// Waiting again in the open below would double --timeout.
		return err
	}
	beforeKnown := err == nil
	beforeLog, logKnown := logSize(dir)

	// An interrupt from here, in the replay or the checkpoint, loses no
	// commit, and leaves what is left to the next checkpoint.
	a.cleanups.setNote(fmt.Sprintf("the checkpoint of %s did not finish: no commit is lost; run \"folio checkpoint %s\" again",
		path, shellQuote(path)))
	db, err := a.openDBWith(path, folio.Options{WAL: true})
	if err != nil {
		// NB: a damaged log's refusal is left for damageHint to end
		// with the way past it and with folio check.
		if errors.Is(err, folio.ErrCorrupt) && !errors.Is(err, folio.ErrLogCorrupt) {
			return fmt.Errorf("%w (folio check %s lists the damage)", err, shellQuote(path))
		}
		return err
	}
	defer closeDB(db, &err)
	replayed, err := db.Info() // the open replayed the log
	if err != nil {
		return &pathError{path: path, err: err}
	}
	if err := checkpointNoted(a, db, path); err != nil {
		// A failed sync names the file already.
		return withPath(path, fmt.Errorf("checkpoint: %w", err))
	}
	in, err := db.Info()
	if err != nil {
		return &pathError{path: path, err: err}
	}

	what := "nothing to replay: the file held every commit"
	if n := replayed.Replayed; n > 0 {
		// INVARIANT: replay applies txids one after another, each its
		// predecessor's plus one (tx's replay refuses a gap), so the n
		// replayed end at ReplayedTxID. The file's txid is the one
		// before them, not one of them ("txid 1 to 5" read as if 1 was).
		last := uint64(replayed.ReplayedTxID)
		txids := fmt.Sprintf("txid %d", last)
		if n > 1 {
			txids = fmt.Sprintf("txids %d to %d", last-uint64(n)+1, last)
		}
		if beforeKnown {
			txids += fmt.Sprintf("; the file was at txid %d", beforeTxID)
		}
		what = fmt.Sprintf("replayed %d %s from the log (%s) and checkpointed %s into the file",
			n, plural(n, "commit", "commits"), txids, plural(n, "it", "them"))
	} else if !beforeKnown {
		what = "replayed the log's pending commits, if any, and checkpointed"
	}
	fmt.Fprintf(a.stdout, "%s: %s; now at txid %d, checkpointed at txid %d\n", path, what, in.TxID, in.CheckpointTxID)
	if logKnown {
		fmt.Fprintf(a.stdout, "log %s: %s before, %s after\n", dir, humanBytes(beforeLog), humanBytes(in.LogBytes))
	} else {
		fmt.Fprintf(a.stdout, "log %s: %s after\n", dir, humanBytes(in.LogBytes))
	}
	return nil
}

// checkpointNoted checkpoints db, opened from path, and sets what an
// interrupt then says. A signal during the checkpoint waits for it, as
// one during a put's commit does (updateNoted), so that the message says
// whether it was done.
func checkpointNoted(a *app, db *folio.DB, path string) error {
	a.cleanups.mu.Lock()
	defer a.cleanups.mu.Unlock()
	if err := db.Checkpoint(); err != nil {
		return err
	}
	if inPlaceCommitted != nil {
		inPlaceCommitted(a)
	}
	a.cleanups.note = path + " was checkpointed before it"
	return nil
}

// fileTxID reads the txid of the meta page the library would open, from
// the file itself (a read-only open fails while the log has commits
// pending).
func fileTxID(a *app, path string) (page.TxID, error) {
	pf, err := openRawPageFile(path, a.timeout)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	return pf.info.TxID, nil
}

// logSize opens the log in dir read-only, changing nothing, and returns
// the bytes its live segments use.
func logSize(dir string) (int64, bool) {
	lg, err := wal.Open(dir, wal.Options{ReadOnly: true})
	if err != nil {
		return 0, false
	}
	defer lg.Close()
	return lg.Size(), true
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func plural[N ~int | ~int64](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// keysInBuckets is "1 key in 1 bucket", "2 keys into 3 buckets" and so on:
// the summary line every command that copies a database prints.
func keysInBuckets[N ~int | ~int64](keys N, in string, buckets N) string {
	return fmt.Sprintf("%d %s %s %d %s", keys, plural(keys, "key", "keys"), in, buckets, plural(buckets, "bucket", "buckets"))
}
