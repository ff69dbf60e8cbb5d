package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/cmd/folio/internal/dumpfmt"
	"github.com/foliodb/folio/page"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newLoadCmd) }

func newLoadCmd(a *app) *cobra.Command {
	var (
		input, bucket string
		noOverwrite   bool
		fill          float64
	)
	cmd := &cobra.Command{
		Use:   "load DB [-i FILE] [--bucket PATH] [--no-overwrite] [--fill F]",
		Short: "Load a dump (folio's or LMDB's mdb_dump), creating buckets and the database as needed",
		Long: `Load reads a dump from FILE (or standard input) into DB, creating DB if it
does not exist (with the dump's page size, if it records one). The format
is detected: db_dump text (format=bytevalue or print, from folio dump or
LMDB's mdb_dump) or folio's binary format, either one zstd-compressed or
not.

Each block goes into the bucket its database= name gives (a/b/c, created
as needed) and takes the bucket's sequence if the dump records one. With
--bucket PATH every block goes under PATH instead, and a block without a
name (LMDB's main database, as "mdb_dump ENV" writes it) goes into PATH
itself; folio keeps data only in buckets, so such a block needs --bucket.

Keys are committed in transactions of at most 10,000 keys or 16 MiB; a
value over 1 MiB ends its transaction (it is not copied first). A
malformed dump stops the load at the line (text) or byte offset (binary)
it names; what was committed before stays, consistent, and the message
says how much that was. If the load created DB and nothing was committed,
DB is removed again. A new DB is refused while DB.wal exists: opening DB
would replay that log's commits into it. An empty pipe is refused: the
command writing it failed before its first byte ("folio dump" of a
missing or locked DB); an empty file or </dev/null makes an empty DB.

Interrupted (SIGINT, SIGTERM: exit 130, 143), a load that created DB
removes it, however much it committed, unless it had ended (the message
then says what DB keeps). One into an existing DB stops at
once: the transactions it committed stay, whole and consistent (the
message says how many keys), and the one in progress is lost, as after a
crash (a DB in WAL mode is then refused by read-only commands until
"folio checkpoint DB" replays its log).

--no-overwrite keeps keys that exist (and the sequences of buckets that
existed), as mdb_load -N does; a key that exists as a nested bucket is kept
too. A block whose bucket name holds a key with a value fails the load,
with or without it: its keys have nowhere to go.

Buckets the load creates take their keys in order and pack their pages
full; --fill F (0.1 to 1) packs them only that full, leaving room for
later inserts between the keys (see "folio compact --help").`,
		Example: `  folio load app.db -i app.dump
  folio dump old.db --format binary --zstd | folio load new.db
  mdb_dump -a lmdb-env/ | folio load app.db
  mdb_dump lmdb-env/ | folio load app.db --bucket main`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if err := checkFillFlag(fill); err != nil {
				return err
			}
			if _, err := os.Lstat(args[0]); err != nil {
				// A database named "-" that exists is loaded into.
				if err := notDash("load", "DB", args[0]); err != nil {
					return err
				}
			}
			a.cleanups.noteAsItWas(args[0])
			l := &loader{a: a, path: args[0], noOverwrite: noOverwrite, fill: fill, created: map[string]bool{}}
			if bucket != "" {
				if l.prefix, err = parsePath(bucket); err != nil {
					return usagef("--bucket: %v", err)
				}
			}
			src, name, total := a.stdin, "standard input", int64(0)
			pipe := isPipe(a.stdin)
			if input == "" || input == "-" {
				if err := a.needStdin(cmd); err != nil {
					return err
				}
			}
			if (input == "" || input == "-") && isTerminalReader(a.stdin) {
				return usagef("no dump to read: give -i FILE or pipe one in")
			}
			if input != "" && input != "-" {
				if sameFile(args[0], input) {
					return usagef("-i %s is the database itself", input)
				}
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("load %s: %w", args[0], notReached(input, err))
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.IsDir() {
					return fmt.Errorf("load %s: %s is a directory, not a dump; nothing was loaded", args[0], input)
				}
				src, name, total = bareReadErrors{f}, input, fileSize(input)
				pipe = isPipe(f)
			} else if isDB(args[0], a.stdin) {
				return usagef("standard input is %s itself", args[0])
			}
			prog := newProgress(a, total, "load: bytes")
			defer prog.Done()
			br := bufio.NewReader(&progressReader{r: src, prog: prog})
			if _, err := br.Peek(1); err == io.EOF && pipe {
				// NB: "folio dump app.db | folio load new.db" with app.db
				// missing, locked or damaged: the dump wrote nothing, and
				// an empty new.db and exit 0 said the copy was made.
				return fmt.Errorf("load %s: %s: an empty pipe: the command writing it wrote nothing (did it fail?); nothing was loaded", args[0], name)
			}
			if isDatabaseFile(br) {
				return fmt.Errorf("load %s: %s: a folio database file, not a dump "+
					"(copy a database with \"folio backup\" or \"folio compact\"; write a dump with \"folio dump\"); nothing was loaded", args[0], name)
			}
			rd, err := dumpfmt.NewReader(br)
			if err != nil {
				return fmt.Errorf("load %s: %s: %w; nothing was loaded", args[0], name, err)
			}
			defer rd.Close()
			l.rd = rd
			start := time.Now()
			if err := l.run(); err != nil {
				if errors.As(err, new(dbFileError)) {
					return fmt.Errorf("load %s: %w", args[0], err)
				}
				return fmt.Errorf("load %s: %s: %w", args[0], name, err)
			}
			// Erase the bar before the summary: on a terminal that is
			// stdout too, the summary would go on the bar's line.
			prog.Done()
			z := ""
			if rd.Compressed() {
				z = ", zstd"
			}
			fmt.Fprintf(a.stdout, "loaded %s from %s (%v%s) in %v", keysInBuckets(l.keys, "into", l.buckets),
				name, rd.Format(), z, time.Since(start).Round(time.Millisecond))
			if l.skipped > 0 {
				fmt.Fprintf(a.stdout, "; %d %s existed and %s kept", l.skipped, plural(l.skipped, "key", "keys"), plural(l.skipped, "was", "were"))
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read the dump from FILE (default: standard input)")
	cmd.Flags().StringVar(&bucket, "bucket", "", "load every block under this bucket (a/b/c)")
	cmd.Flags().BoolVar(&noOverwrite, "no-overwrite", false, "keep keys that already exist")
	addFillFlag(cmd, &fill)
	return cmd
}

// Load transactions are bounded: the write transaction holds its pages
// in memory, and a failure loses at most one transaction's worth.
var (
	loadTxKeys  = 10_000
	loadTxBytes = 16 << 20
)

// loader reads a dump and writes it in bounded transactions. Each batch
// is read whole before its transaction begins, so a malformed dump never
// leaves part of a batch behind, and a new database is created only when
// the first batch is ready.
type loader struct {
	a           *app
	path        string
	prefix      [][]byte
	noOverwrite bool
	fill        float64 // FillPercent and AppendFillPercent of buckets it creates
	rd          *dumpfmt.Reader

	db        *folio.DB
	createdDB bool            // this load created the file
	newDB     *cleanup        // removes the file this load created if interrupted
	created   map[string]bool // buckets this load created, by formatPath
	loaded    map[string]bool // buckets with a block committed, by formatPath

	// The batch: the blocks it touches (blocks[0] may carry on from the
	// previous batch) and its pairs, whose bytes live in arena.
	blocks []loadBlock
	begun  int // blocks whose header is in the batch
	ops    []loadOp
	arena  []byte
	big    bool // an op holds a value of the reader's: flush before the next item

	keys, buckets, skipped int64 // committed
	lastPos                int64 // where the last committed batch ended
}

type loadBlock struct {
	path   [][]byte // in the database: the prefix and the block's name
	seq    uint64
	hasSeq bool
	pos    int64 // where its header is
	begun  bool  // its header is in this batch
}

type loadOp struct {
	block                  int
	pos                    int64
	kOff, kLen, vOff, vLen int
	big                    []byte // a value over loadBigValue, not in arena (vOff, vLen unused)
}

// loadBigValue is the size past which a value is not copied into the
// batch's arena: the batch is committed before the next item is read,
// while the value is still the reader's. Copied, a 100 MiB value was in
// memory once more, and the arena kept its size to the end of the load
// (TestLargeValueCLILoadMemory).
const loadBigValue = 1 << 20

func (l *loader) run() (err error) {
	defer func() {
		if l.db == nil {
			return
		}
		cerr := l.db.Close()
		if err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", l.path, cerr)
		}
		empty := err != nil && l.createdDB && l.keys == 0 && l.buckets == 0
		if empty {
			_ = l.newDB.done(func() error {
				// Nothing committed: leave no empty database behind.
				_ = os.Remove(l.path)
				return nil
			})
		} else {
			// An interrupt from now on leaves the new database.
			_ = l.newDB.place(func() error { return nil }, l.path, l.keptNote())
		}
	}()
	if err := l.openExisting(); err != nil {
		return l.failed(dbFileError{err})
	}
	for {
		it, err := l.rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return l.failed(err)
		}
		if it.Bucket != nil {
			err = l.begin(it.Bucket)
		} else {
			err = l.add(it.Key, it.Value)
		}
		if err != nil {
			return l.failed(err)
		}
		// New blocks count too: a dump of many empty buckets has no pairs.
		if len(l.ops)+l.begun >= loadTxKeys || len(l.arena) >= loadTxBytes || l.big {
			if err := l.flush(); err != nil {
				return l.failed(err)
			}
		}
	}
	if err := l.flush(); err != nil {
		return l.failed(err)
	}
	if l.db == nil {
		// An empty dump still leaves the database it was loaded into.
		if err := l.create(); err != nil {
			return dbFileError{err}
		}
	}
	return nil
}

// dbFileError is an error opening or creating the database file, not
// one in the dump: the load's message names the database, not the dump.
type dbFileError struct{ err error }

func (e dbFileError) Error() string { return e.err.Error() }
func (e dbFileError) Unwrap() error { return e.err }

// failed adds to err how much was committed before it.
func (l *loader) failed(err error) error {
	if err == nil {
		return nil
	}
	if l.keys == 0 && l.buckets == 0 {
		return fmt.Errorf("%w; nothing was loaded", err)
	}
	return fmt.Errorf("%w; %s, up to %s, %s loaded and committed before it",
		err, keysInBuckets(l.keys, "in", l.buckets), l.rd.PosString(l.lastPos), plural(l.keys, "was", "were"))
}

// openExisting opens DB now if it exists, so a locked or damaged file
// fails before the dump is read; a missing one is created by flush,
// unless a log lies where its log would go (noLogBeside): opening the new
// database would replay another database's commits into it.
func (l *loader) openExisting() error {
	if _, err := os.Stat(l.path); errors.Is(err, os.ErrNotExist) {
		return noLogBeside(l.path)
	}
	// NB: DB may have been made since RunE's note: a wait for its lock
	// comes next.
	l.a.cleanups.setNote(l.path + " is as it was")
	db, err := l.a.openDB(l.path, false)
	if fi, serr := os.Stat(l.path); err != nil && serr == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		// A mktemp name, most likely: say what to do.
		return fmt.Errorf("%w; remove it, and load makes the database there", err)
	}
	if err != nil {
		return err
	}
	l.db = db
	return nil
}

func (l *loader) begin(b *dumpfmt.Bucket) error {
	pos := l.rd.Pos()
	if len(b.Path) == 0 && len(l.prefix) == 0 {
		return fmt.Errorf("%s: a block without a database= name (LMDB's main database): folio keeps data only in buckets; choose one with --bucket",
			l.rd.PosString(pos))
	}
	path := append(append([][]byte(nil), l.prefix...), b.Path...)
	// The previous block stays in the batch only if it has pairs there.
	if n := len(l.blocks); n > 0 && !l.blocks[n-1].begun && (len(l.ops) == 0 || l.ops[len(l.ops)-1].block != n-1) {
		l.blocks = l.blocks[:n-1]
	}
	l.blocks = append(l.blocks, loadBlock{path: path, seq: b.Sequence, hasSeq: b.HasSequence, pos: pos, begun: true})
	l.begun++
	return nil
}

func (l *loader) add(k, v []byte) error {
	pos := l.rd.Pos()
	if len(k) == 0 {
		return fmt.Errorf("%s: an empty key (folio keys are 1 to %d bytes)", l.rd.PosString(pos), folio.MaxKeySize)
	}
	op := loadOp{block: len(l.blocks) - 1, pos: pos, kOff: len(l.arena), kLen: len(k)}
	l.arena = append(l.arena, k...)
	if len(v) > loadBigValue {
		op.big, l.big = v, true
	} else {
		op.vOff, op.vLen = len(l.arena), len(v)
		l.arena = append(l.arena, v...)
	}
	l.ops = append(l.ops, op)
	return nil
}

// loadCommitted, set by tests, runs once a load transaction's commit has
// returned, with the keys the load has committed so far.
var loadCommitted func(l *loader, committed int64)

// flush writes the batch in one transaction.
func (l *loader) flush() error {
	if len(l.ops) == 0 && l.begun == 0 {
		return nil
	}
	if l.db == nil {
		if err := l.create(); err != nil {
			return dbFileError{err}
		}
	}
	var skipped int64
	var begun []string // the buckets whose blocks begin in this batch
	// NB: every bucket the transaction creates, those above a block's
	// too: a block can come after the block of a bucket under it.
	created := map[string]bool{}
	held := false
	err := l.db.Update(func(tx *folio.Tx) error {
		handles := make([]*folio.Bucket, len(l.blocks))
		for i, blk := range l.blocks {
			b, first, err := l.bucket(tx, blk.path)
			if err != nil {
				return fmt.Errorf("%s: %w", l.rd.PosString(blk.pos), err)
			}
			for j := first; j < len(blk.path); j++ {
				created[formatPath(blk.path[:j+1])] = true
			}
			name := formatPath(blk.path)
			fresh := created[name] || l.created[name]
			if fresh {
				// Keys arrive in order: pack the pages as compact does.
				b.FillPercent, b.AppendFillPercent = l.fill, l.fill
			}
			if blk.begun {
				begun = append(begun, name)
				if blk.hasSeq && (fresh || !l.noOverwrite) {
					if err := b.SetSequence(blk.seq); err != nil {
						return fmt.Errorf("%s: bucket %s: set sequence: %w", l.rd.PosString(blk.pos), quotePath(blk.path), err)
					}
				}
			}
			handles[i] = b
		}
		for _, op := range l.ops {
			b := handles[op.block]
			k := l.arena[op.kOff : op.kOff+op.kLen]
			v := op.big
			if v == nil {
				v = l.arena[op.vOff : op.vOff+op.vLen]
			}
			// NB: Get is nil for a nested bucket's name too; such a key
			// exists, and --no-overwrite keeps it as it keeps a value.
			if l.noOverwrite && (b.Get(k) != nil || b.Bucket(k) != nil) {
				skipped++
				continue
			}
			if err := b.Put(k, v); err != nil {
				return fmt.Errorf("%s: bucket %s: put key %s: %w", l.rd.PosString(op.pos),
					quotePath(l.blocks[op.block].path), quoteKey(k), err)
			}
		}
		if !l.createdDB {
			// NB: an interrupt from here waits until the note counts
			// this commit (below); one between the commit and the note
			// said the keys before it while the file held these too.
			l.a.cleanups.mu.Lock()
			held = true
		}
		return nil
	})
	if held {
		defer l.a.cleanups.mu.Unlock()
	}
	if errors.Is(err, folio.ErrCorrupt) {
		// Damage in DB, not in the dump: the message names DB alone.
		return dbFileError{err}
	}
	if err != nil {
		return err
	}
	if loadCommitted != nil {
		loadCommitted(l, l.keys+int64(len(l.ops))-skipped)
	}
	for name := range created {
		l.created[name] = true
	}
	l.keys += int64(len(l.ops)) - skipped
	l.skipped += skipped
	// NB: buckets, not blocks: concatenated dumps give a bucket several.
	if l.loaded == nil {
		l.loaded = map[string]bool{}
	}
	for _, name := range begun {
		if !l.loaded[name] {
			l.loaded[name] = true
			l.buckets++
		}
	}
	if n := len(l.ops); n > 0 {
		l.lastPos = l.ops[n-1].pos
	} else if n := len(l.blocks); n > 0 {
		l.lastPos = l.blocks[n-1].pos
	}
	if held {
		// An interrupt leaves this much in the existing database.
		l.a.cleanups.note = l.keptNote()
	}
	// The current block carries on into the next batch.
	if n := len(l.blocks); n > 0 {
		last := l.blocks[n-1]
		last.begun = false
		l.blocks = append(l.blocks[:0], last)
	}
	clear(l.ops) // no big value outlives its batch
	l.ops, l.arena, l.begun, l.big = l.ops[:0], l.arena[:0], 0, false
	return nil
}

// keptNote says what the database keeps of the load so far, for an
// interrupt's message.
func (l *loader) keptNote() string {
	if l.keys == 0 && l.buckets == 0 {
		return l.path + " was made before it, empty"
	}
	return fmt.Sprintf("%s keeps the %s loaded and committed before it, up to %s",
		l.path, keysInBuckets(l.keys, "in", l.buckets), l.rd.PosString(l.lastPos))
}

// bucket opens the bucket at path, creating what is missing; first is
// the index in path of the first bucket it created, len(path) if none.
func (l *loader) bucket(tx *folio.Tx, path [][]byte) (b *folio.Bucket, first int, err error) {
	first = len(path)
	for i, name := range path {
		var next *folio.Bucket
		if i == 0 {
			next = tx.Bucket(name)
		} else {
			next = b.Bucket(name)
		}
		if next == nil {
			if i == 0 {
				next, err = tx.CreateBucket(name)
			} else {
				next, err = b.CreateBucket(name)
			}
			if errors.Is(err, folio.ErrIncompatibleValue) {
				return nil, 0, fmt.Errorf("bucket %s: the name holds a key with a value, not a bucket: %w", quotePath(path[:i+1]), err)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("create bucket %s: %w", quotePath(path[:i+1]), err)
			}
			first = min(first, i)
		}
		b = next
	}
	return b, first, nil
}

// create makes the new database, with the dump's page size if it
// records one folio can use.
func (l *loader) create() error {
	ps := l.rd.PageSize()
	if checkPageSizeFlag(ps) != nil {
		ps = 0
	}
	if err := noLogBeside(l.path); err != nil {
		return err
	}
	if fi, err := os.Lstat(l.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// NB: Open makes a new database by linking a file into place,
		// never through a link; it failed with "no such file or
		// directory", of a directory that exists.
		to, _ := os.Readlink(l.path)
		return pathErrorf(l.path, "a symbolic link to %s, which does not exist: load makes a new database "+
			"only where no file is (give the link's target as DB, or remove the link)", to)
	}
	var db *folio.DB
	var err error
	l.newDB, err = l.a.cleanups.track(func() (func(), error) {
		// NB: under the cleanups' lock, as close to the Open as can be:
		// a file another process made before it is not ours to remove.
		_, statErr := os.Lstat(l.path)
		var err error
		db, err = folio.Open(l.path, 0o600, &folio.Options{PageSize: ps, Timeout: l.a.timeout})
		// NB: if another process made DB meanwhile and holds it, an
		// interrupt waits until Open gives up (--timeout), and the file
		// is that process's.
		if !errors.Is(statErr, os.ErrNotExist) || errors.Is(err, folio.ErrTimeout) {
			return nil, err
		}
		// An interrupted load leaves no new database, however much it
		// committed.
		return func() { _ = os.Remove(l.path) }, err
	})
	if errors.Is(err, folio.ErrTimeout) {
		return lockTimeout(l.path, l.a.timeout, err)
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		// Named after DB, not the temporary file Open makes beside it.
		err = createError(l.path, err)
	}
	if err != nil {
		// NB: Open writes the new file before it fails on what lies
		// beside it; leave no half-made database.
		if l.newDB != nil {
			_ = l.newDB.done(func() error {
				_ = os.Remove(l.path)
				return nil
			})
		}
		return err
	}
	l.db, l.createdDB = db, true
	return nil
}

// isDB reports whether r is a file and the same file as the one at path.
func isDB(path string, r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	dfi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, dfi)
}

// isDatabaseFile reports whether br begins as a folio database file
// does: meta page 0, whose magic follows the page header. The dump
// reader would take the file's first bytes for a text line and fail on
// them ("want a header line, found "I\x13..."), which says nothing of
// what was wrong. NB: only the first HeaderSize+4 bytes are peeked, which
// a pipe fed slowly has at once.
func isDatabaseFile(br *bufio.Reader) bool {
	head, err := br.Peek(page.HeaderSize + 4)
	// NB: meta page 0's header too, not the magic alone: bytes 32-35 of
	// a binary dump, plain or zstd, may be any four bytes of a bucket
	// name, while its byte 8 ('H', the header frame) and a zstd frame's
	// bytes 4-5 rule out that header.
	return err == nil && page.PageFlags(head) == page.FlagMeta && page.PageID(head) == 0 &&
		binary.LittleEndian.Uint32(head[page.HeaderSize:]) == page.Magic
}

// isPipe reports whether r is a pipe (or a FIFO).
func isPipe(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&fs.ModeNamedPipe != 0
}

// isTerminalReader reports whether r is a terminal (isTerminalFile).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminalFile(f)
}

// bareReadErrors reads r, an error's *fs.PathError cut to its cause:
// the load's message names the input already, and a reader's
// "byte offset 0: read: " before the cause says the rest ("read FILE: "
// again said both).
type bareReadErrors struct{ r io.Reader }

func (b bareReadErrors) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	return n, err
}

// progressReader counts bytes read on a progress bar.
type progressReader struct {
	r    io.Reader
	prog progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.prog.Add(int64(n))
	return n, err
}
