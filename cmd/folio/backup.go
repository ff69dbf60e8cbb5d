package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/wal"
	"github.com/klauspost/compress/zstd"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newBackupCmd) }

func newBackupCmd(a *app) *cobra.Command {
	var compress bool
	cmd := &cobra.Command{
		Use:   "backup DB OUT [--zstd]",
		Short: "Write a consistent, verified copy of a database, even one in use",
		Long: `Backup copies the database as one read transaction sees it (Tx.WriteTo): a
consistent snapshot, taken under a shared lock, so programs may go on
reading the database meanwhile. The copy is written to a temporary file
beside OUT, synced, verified (opened and fully checked: checksums, tree
order, page accounting) and only then renamed to OUT, so OUT may not be a
FIFO, a device or standard output (/dev/stdout). A failed or interrupted
backup (SIGINT, SIGTERM: exit 130, 143) removes the temporary file (an
interrupt once OUT is renamed into place says that it was). A new
OUT gets DB's mode less the umask (as cp gives a copy); a replaced OUT
keeps its own.

With --zstd the copy is zstd-compressed; it is verified by decompressing
it to a temporary file. Restore it with "zstd -d < OUT > app.db".

A writer in another process holds an exclusive lock: backup then fails
within --timeout, saying so.

A database in WAL mode is copied as a plain database: OUT holds every
commit and needs no log (OUT.wal must not exist), and DB's log, the
directory DB.wal, is read but never changed. A program that closed the
database cleanly left every commit in the file (Close checkpoints). After
a crash the log may hold commits the file does not; backup then fails,
saying so: run "folio checkpoint DB" first.`,
		Example: `  folio backup app.db /backups/app-$(date +%F).db
  folio backup --zstd app.db /backups/app.db.zst
  folio checkpoint app.db && folio backup app.db app.bak   # after a WAL-mode crash`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			src, dst := args[0], args[1]
			if err := notDash("backup", "OUT", dst); err != nil {
				return err
			}
			if sameFile(src, dst) {
				return usagef("OUT %s is the database itself", dst)
			}
			if a.isStdout(dst) {
				// NB: /dev/stdout on a regular file (">> log") is that
				// file: the verified copy was renamed over it, and what it
				// held was lost. Checked first: standard output named
				// as OUT is usage, whatever kind of file it is.
				return usagef("OUT %s is standard output: backup writes a file it verifies and renames into place; name that file", dst)
			}
			if fi, err := os.Stat(dst); err == nil && !fi.Mode().IsRegular() {
				// The copy is verified by opening it, which needs a file.
				// A file of the wrong kind fails as any file a command
				// cannot use does: exit 1 (README, "Exit status").
				return fmt.Errorf("OUT %s is not a regular file (backup writes a file it can verify)", dst)
			}
			if err := noLogBeside(dst); err != nil {
				return fmt.Errorf("backup %s: %w", src, err)
			}
			start := time.Now()
			// NB: not wrapped in "backup DB: ", as dump's and compact's
			// are not: Open's refusal names the file already ("open DB:
			// ...").
			db, err := a.openDB(src, true)
			if err != nil {
				return err
			}
			st, err := backupDB(a, db, src, dst, compress, start)
			if err != nil {
				return fmt.Errorf("backup %s: %w", src, err)
			}
			z := ""
			if compress {
				z = ", zstd"
			}
			fmt.Fprintf(a.stdout, "backed up %s at txid %d (%s) to %s (%s%s) in %v; verified: %s\n",
				src, st.txid, humanBytes(st.size), dst, humanBytes(st.written), z, st.elapsed.Round(time.Millisecond), st.verified)
			return nil
		},
	}
	cmd.Flags().BoolVar(&compress, "zstd", false, "compress the copy with zstd")
	return cmd
}

type backupStats struct {
	txid          int
	size, written int64
	elapsed       time.Duration
	verified      string
}

// backupDB copies db, opened read-only from src at start, to dst. It
// closes db.
func backupDB(a *app, db *folio.DB, src, dst string, compress bool, start time.Time) (st backupStats, err error) {
	// The copy is as private as the database: a new OUT takes its mode
	// (less the umask), as cp gives a copy.
	out, err := a.createOut(dst, srcPerm(src))
	if err != nil {
		_ = db.Close()
		return st, err
	}
	defer out.abort()
	err = db.View(func(tx *folio.Tx) error {
		st.txid, st.size = tx.ID(), tx.Size()
		prog := newProgress(a, st.size, "backup: bytes")
		defer prog.Done()
		var err error
		if st.written, err = writeSnapshot(tx, out.f, compress, prog); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
		return nil
	})
	// The lock is not needed to verify the copy: let writers in now.
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", src, cerr)
	}
	if err != nil {
		return st, err
	}
	if err := out.f.Sync(); err != nil {
		return st, fmt.Errorf("sync %s: %w", out.tmp, err)
	}
	if st.verified, err = verifyBackup(a, src, out.tmp, compress, st.txid); err != nil {
		return st, err
	}
	if err := out.commit("written and verified"); err != nil {
		return st, err
	}
	st.elapsed = time.Since(start)
	return st, nil
}

// writeSnapshot writes tx's copy of the database into f, through zstd
// if compress, showing the bytes copied on prog; it returns the bytes
// written to f. NB: uncompressed, Tx.WriteTo gets f itself, and writes
// the mapped pages into it in one call; given a writer wrapping f to
// count bytes for the bar, it copied them through a buffer of its own
// (1 MiB allocated: TestBackupMemory). The bar follows f's size instead.
func writeSnapshot(tx *folio.Tx, f *os.File, compress bool, prog progress) (int64, error) {
	if !compress {
		stop := watchFileSize(prog, f)
		n, err := tx.WriteTo(f)
		stop()
		return n, err
	}
	cw := &countWriter{w: f}
	zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return 0, fmt.Errorf("zstd: %w", err)
	}
	// The encoder takes its input through a buffer anyway.
	_, err = tx.WriteTo(&progressWriter{w: zw, prog: prog})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return cw.n, err
}

// verifyBackup opens the copy at path of the database src (decompressed
// into a temporary file first, if compressed) and checks all of it.
func verifyBackup(a *app, src, path string, compressed bool, txid int) (string, error) {
	what := "check ok"
	if compressed {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		var tmp *os.File
		cl, err := a.cleanups.track(func() (func(), error) {
			var err error
			if tmp, err = os.CreateTemp(filepath.Dir(path), ".folio-verify-*"); err != nil {
				return nil, err
			}
			name := tmp.Name()
			return func() { _ = os.Remove(name) }, nil
		})
		if err != nil {
			return "", fmt.Errorf("verify: %w", err)
		}
		defer cl.done(func() error {
			_ = os.Remove(tmp.Name())
			return nil
		})
		zr, err := zstd.NewReader(f)
		if err != nil {
			_ = tmp.Close()
			return "", fmt.Errorf("verify: zstd: %w", err)
		}
		_, err = io.Copy(tmp, zr)
		zr.Close()
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("verify: decompress: %w", err)
		}
		path, what = tmp.Name(), "decompressed, check ok"
	}
	db, err := folio.Open(path, 0o600, &folio.Options{ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("verify: open the copy: %w", err)
	}
	defer db.Close()
	res, err := checkDB(db, path)
	if err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	if !res.OK {
		// The copy holds the pages as the snapshot read them, checksums
		// and all: damage found in it is most likely the source's.
		return "", fmt.Errorf("%w (\"folio check %s\" tells whether the database holds it)", copyProblems(res, path), shellQuote(src))
	}
	// OK: checkDB read and counted everything.
	if *res.TxID != txid {
		return "", fmt.Errorf("verify: the copy is at txid %d, the snapshot was %d", *res.TxID, txid)
	}
	return fmt.Sprintf("%s (%s)", what, keysInBuckets(*res.Keys, "in", *res.Buckets)), nil
}

// outFile is an output written to a temporary file beside its path and
// renamed into place once complete, so a failure or an interrupt leaves
// nothing behind and a reader never sees half a file. An existing output
// that is not a regular file (a FIFO, a terminal, /dev/stdout) is written
// directly instead: renaming over it would replace the FIFO or the link
// with a file and the reader waiting on it would get nothing.
type outFile struct {
	f         *os.File
	path, tmp string   // tmp is "" when writing to path directly
	cl        *cleanup // removes tmp if the command is interrupted
	done      bool
}

// createOut starts the output path. The file it makes has the mode of
// the file it replaces, or, new, perm less the umask, as a shell's
// redirection or cp gives it: we rejected the 0600 of os.CreateTemp, which
// left every output, even one replacing a file others read, readable by
// its owner alone. A symbolic link at path is followed, also to a file
// that does not exist yet, which is made (as a shell's > makes it): the
// link stays and what it names is written.
func (a *app) createOut(path string, perm os.FileMode) (*outFile, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("create %s: it is a directory", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return &outFile{f: f, path: path}, nil
	}
	target, err := linkTarget(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	replace := false
	if fi, err := os.Stat(target); err == nil {
		perm, replace = fi.Mode().Perm(), true
	}
	var f *os.File
	cl, err := a.cleanups.track(func() (func(), error) {
		var err error
		if f, err = createTemp(target, perm); err != nil {
			return nil, err
		}
		tmp := f.Name()
		if replace {
			// The umask applied at creation; the mode replaced is kept whole.
			err = f.Chmod(perm)
		}
		return func() { _ = os.Remove(tmp) }, err
	})
	if err != nil {
		if f != nil {
			_ = f.Close()
			_ = cl.done(func() error { return os.Remove(f.Name()) })
		}
		if replace {
			// NB: what failed is the new file beside it: FILE itself
			// may well be writable ("> FILE" would do).
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				err = pe.Err
			}
			err = pathErrorf(target, "cannot replace it: no new file can be made beside it, in %s "+
				"(the output is written there, then renamed over it): %w", filepath.Dir(target), err)
		} else {
			err = createError(target, err)
		}
		if target != path {
			return nil, pathErrorf(path, "a link to %w", err)
		}
		return nil, err
	}
	return &outFile{f: f, path: target, tmp: f.Name(), cl: cl}, nil
}

// createTemp creates a new file beside path, named after it, with perm
// less the umask (os.CreateTemp's files are 0600 whatever the umask).
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	prefix := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	for try := 0; ; try++ {
		name := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) && try < 1000 {
			continue
		}
		return f, err
	}
}

// maxLinks bounds the symbolic links linkTarget follows, as the kernel
// does (Linux's MAXSYMLINKS), so a loop of links ends.
const maxLinks = 40

// linkTarget is the path of the file path names once every symbolic link
// at its end is followed: path itself if it is no link, the file a link
// names even if that does not exist (a dangling link). A relative link is
// read from the real directory that holds the link: joined lexically to
// a directory reached through a link, "../x" would name another file than
// the kernel's.
func linkTarget(path string) (string, error) {
	for range maxLinks {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil // not a link: creating it says what is wrong, if anything
		}
		if err := trustLink(path, fi); err != nil {
			return "", err
		}
		to, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(to) {
			dir, err := filepath.EvalSymlinks(filepath.Dir(path))
			if err != nil {
				return "", err
			}
			to = filepath.Join(dir, to)
		}
		path = to
	}
	return "", fmt.Errorf("%w (more than %d in a row: a loop?)", syscall.ELOOP, maxLinks)
}

// commit syncs the file, renames it into place and syncs the directory;
// a file written directly is only closed (a FIFO or a device has nothing
// to sync, and fsync fails on some of them). An interrupt after the
// rename says the file was done ("written and verified") before it.
func (o *outFile) commit(done string) error {
	if o.tmp == "" {
		o.done = true
		if err := o.f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", o.path, err)
		}
		return nil
	}
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = o.cl.place(func() error { return os.Rename(o.tmp, o.path) }, o.path, o.path+" was "+done+" before it")
	}
	if err == nil {
		err = wal.SyncDir(filepath.Dir(o.path))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	o.done = true
	return nil
}

// abort removes the temporary file unless commit succeeded.
func (o *outFile) abort() {
	if o.done {
		return
	}
	_ = o.f.Close()
	if o.tmp != "" {
		_ = o.cl.done(func() error {
			_ = os.Remove(o.tmp)
			return nil
		})
	}
	o.done = true
}

// sameFile reports whether a and b exist and are the same file.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// progressWriter counts bytes written on a progress bar.
type progressWriter struct {
	w    io.Writer
	prog progress
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.prog.Add(int64(n))
	return n, err
}

// errExists is returned when a command would overwrite a file it only
// ever creates.
var errExists = errors.New("already exists (this command writes a new file; remove it first)")

// newFile fails if dst, the new file compact or migrate (named name)
// makes, exists: it would be overwritten, or, a directory, is no file
// name.
func newFile(name, dst string) error {
	fi, err := os.Lstat(dst)
	if err != nil {
		return nil // missing; creating it reports any other trouble
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: %s is a directory (this command writes a new file: name one)", name, dst)
	}
	return fmt.Errorf("%s: %s %w", name, dst, errExists)
}

// notSource fails, as bad usage, when dst, the new file a copying
// command (compact, migrate) makes, is src itself (by name or a link):
// its "already exists (... remove it first)" would have the user remove
// the source.
func notSource(src, dst string) error {
	if sameFile(src, dst) {
		return usagef("DST %s is the database itself (SRC): name a new file for the copy", dst)
	}
	return nil
}

// noLogBeside fails if a write-ahead log directory lies where the new
// database path would look for one: folio.Open would replay another
// database's commits into the copy.
func noLogBeside(path string) error {
	if _, err := os.Lstat(folio.LogDir(path)); err == nil {
		return fmt.Errorf("%s exists: a write-ahead log there would be replayed into the new %s when it is opened; remove it first",
			folio.LogDir(path), path)
	}
	return nil
}
