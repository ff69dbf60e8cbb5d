//go:build unix

package folio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// logDirModes are the ways a program may open a database: each must
// refuse a log path it cannot use.
var logDirModes = []struct {
	name string
	opts Options
}{
	{"WAL", Options{PageSize: 1024, WAL: true}},
	{"no WAL option", Options{PageSize: 1024}},
	{"ReadOnly", Options{ReadOnly: true}},
	{"ReadOnly WAL", Options{ReadOnly: true, WAL: true}},
}

// logOnOtherDisk makes a database whose log directory is a symbolic link
// to a directory elsewhere (the log on another disk) holding n commits
// the file lacks, as a crash of a WAL-mode program leaves them, and takes
// that disk away (the link dangles). It returns the database's path, the
// link's target and a function that brings the target back.
func logOnOtherDisk(t *testing.T, n int) (path, target string, remount func()) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "a.db")
	db, err := Open(src, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "a.db")
	copyFile(t, src, path)
	putKeys(t, db, 0, n)
	disk := t.TempDir()
	target = filepath.Join(disk, "a.db.wal")
	copyDir(t, LogDir(src), target)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, LogDir(path)); err != nil {
		t.Fatal(err)
	}
	away := filepath.Join(disk, "unmounted")
	if err := os.Rename(target, away); err != nil {
		t.Fatal(err)
	}
	return path, target, func() {
		t.Helper()
		if err := os.Rename(away, target); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogDirDanglingLink: a database whose log directory, DB.wal, is a
// symbolic link to nothing (the log's disk not mounted) is refused by
// Open in every mode, with ErrLogUnreachable naming the link and its
// target and saying what to do, and the link is left as it was. A
// WAL-mode Open failed with "no such file or directory" and removed the
// link, so the next one began a new, empty log, cutting off for good the
// commits only the log on the other disk held; without Options.WAL, and
// read-only, Open took the link for no log and opened the file without
// those commits (a read-write one then committed past them). With the
// target back, every commit is there.
func TestLogDirDanglingLink(t *testing.T) {
	for _, m := range logDirModes {
		t.Run(m.name, func(t *testing.T) {
			const n = 20
			path, target, remount := logOnOtherDisk(t, n)
			logDir := LogDir(path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // and again: the first left everything as it was
				opts := m.opts
				db, err := Open(path, 0o600, &opts)
				if err == nil {
					_ = db.Close()
					t.Fatal("Open succeeded, without the log's commits")
				}
				if to, lerr := os.Readlink(logDir); lerr != nil || to != target {
					t.Fatalf("the link after the refused Open (%v): %q, %v; want it to %s", err, to, lerr, target)
				}
				msg := err.Error()
				if !errors.Is(err, ErrLogUnreachable) || !strings.Contains(msg, logDir+" is a symbolic link to "+target+", which does not exist") ||
					!strings.Contains(msg, "remove the link") || !strings.Contains(msg, "make "+target+" reachable") {
					t.Fatalf("Open: %v; want ErrLogUnreachable naming the link, its target and what to do", err)
				}
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
				t.Fatalf("the refused Open changed the file (%v)", err)
			}
			if _, err := os.Lstat(logTombstone(logDir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a tombstone beside the link (%v)", err)
			}
			if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open made the link's target (%v)", err)
			}
			remount()
			wantKeys(t, path, &Options{PageSize: 1024, WAL: true}, n)
		})
	}
}

// TestLogDirNotADirectory: a DB.wal that is neither a directory nor a
// symbolic link to one (a file, a named pipe, a link to a file, a link
// to itself) is refused by Open in every mode with ErrLogUnreachable
// naming it once and saying what to do, and left as it was; moved
// aside, the database opens.
func TestLogDirNotADirectory(t *testing.T) {
	shapes := []struct {
		name string
		make func(t *testing.T, logDir string)
		want string // in the message, after logDir
	}{
		{"file", func(t *testing.T, logDir string) {
			if err := os.WriteFile(logDir, []byte("not a log\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, " is a regular file, not a directory"},
		{"named pipe", func(t *testing.T, logDir string) {
			if err := unix.Mkfifo(logDir, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			// A reader and a writer of its own: an open of the pipe
			// (a bug) must not hang the test.
			hold, err := os.OpenFile(logDir, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = hold.Close() })
		}, " is a named pipe, not a directory"},
		{"link to a file", func(t *testing.T, logDir string) {
			file := filepath.Join(t.TempDir(), "notes.txt")
			if err := os.WriteFile(file, []byte("mine\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(file, logDir); err != nil {
				t.Fatal(err)
			}
		}, " is a symbolic link to "},
		{"link to itself", func(t *testing.T, logDir string) {
			if err := os.Symlink(filepath.Base(logDir), logDir); err != nil {
				t.Fatal(err)
			}
		}, " is a symbolic link to "},
	}
	for _, sh := range shapes {
		for _, m := range logDirModes {
			t.Run(sh.name+"/"+m.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "a.db")
				db, err := Open(path, 0o600, &Options{PageSize: 1024})
				if err != nil {
					t.Fatal(err)
				}
				putKeys(t, db, 0, 5)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				logDir := LogDir(path)
				sh.make(t, logDir)
				was, err := os.Lstat(logDir)
				if err != nil {
					t.Fatal(err)
				}
				opts := m.opts
				db, err = Open(path, 0o600, &opts)
				if err == nil {
					_ = db.Close()
					t.Fatal("Open succeeded")
				}
				if now, lerr := os.Lstat(logDir); lerr != nil || now.Mode() != was.Mode() || !os.SameFile(now, was) {
					t.Fatalf("%s after the refused Open (%v): %v; want it left as it was (%v)", logDir, err, lerr, was.Mode())
				}
				msg := err.Error()
				if !errors.Is(err, ErrLogUnreachable) || strings.Count(msg, logDir) != 1 || !strings.Contains(msg, logDir+sh.want) {
					t.Fatalf("Open: %v; want ErrLogUnreachable naming %s once, %q", err, logDir, sh.want)
				}
				if err := os.Rename(logDir, logDir+".moved"); err != nil {
					t.Fatal(err)
				}
				wantKeys(t, path, &opts, 5)
			})
		}
	}
}

// dirNames lists dir's entries, for a test that Open made nothing.
func dirNames(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// TestLogDirDanglingLinkNoFile: with no database file (or an empty one,
// which a read-write Open takes for none) and a DB.wal Open cannot use (a
// symbolic link to nothing, a regular file), Open in every mode refuses
// and makes nothing: no file, no temporary file, the empty file still
// empty, DB.wal as it was. A read-write Open created the database and
// only then refused it (ErrLogUnreachable), leaving a new empty database
// beside the link, which the next Open took for the database. With the
// link's target back, the log is refused as another file's
// (ErrLogMismatch), not replayed into a new file, and the file that Open
// created for it is removed again (it was left, and taken for the
// database); with the regular file moved aside, a read-write Open
// creates the database.
func TestLogDirDanglingLinkNoFile(t *testing.T) {
	for _, empty := range []bool{false, true} {
		for _, shape := range []string{"dangling link", "regular file"} {
			for _, m := range logDirModes {
				name := shape + "/" + m.name
				if empty {
					name = "empty file/" + name
				}
				t.Run(name, func(t *testing.T) {
					var path string
					var remount func()
					if shape == "dangling link" {
						path, _, remount = logOnOtherDisk(t, 5)
						if err := os.Remove(path); err != nil {
							t.Fatal(err)
						}
					} else {
						path = filepath.Join(t.TempDir(), "a.db")
						if err := os.WriteFile(LogDir(path), []byte("not a log\n"), 0o600); err != nil {
							t.Fatal(err)
						}
					}
					if empty {
						if err := os.WriteFile(path, nil, 0o600); err != nil {
							t.Fatal(err)
						}
					}
					logDir := LogDir(path)
					dir := filepath.Dir(path)
					names := dirNames(t, dir)
					was, err := os.Lstat(logDir)
					if err != nil {
						t.Fatal(err)
					}
					opts := m.opts
					db, err := Open(path, 0o600, &opts)
					if err == nil {
						_ = db.Close()
						t.Fatal("Open succeeded")
					}
					want := ErrLogUnreachable
					if opts.ReadOnly && !empty {
						want = os.ErrNotExist // a read-only Open creates nothing
					}
					if !errors.Is(err, want) {
						t.Fatalf("Open: %v; want %v", err, want)
					}
					if got := dirNames(t, dir); got != names {
						t.Fatalf("the refused Open (%v) left %q in %s; want %q", err, got, dir, names)
					}
					if fi, err := os.Stat(path); empty && (err != nil || fi.Size() != 0) {
						t.Fatalf("the empty file after the refused Open: %v, %v", fi, err)
					}
					if now, err := os.Lstat(logDir); err != nil || now.Mode() != was.Mode() || !os.SameFile(now, was) {
						t.Fatalf("%s after the refused Open: %v; want it left as it was", logDir, err)
					}
					if opts.ReadOnly {
						return
					}
					if remount != nil {
						remount()
						for range 2 { // and again: the first made nothing
							db, err := Open(path, 0o600, &opts)
							if err == nil {
								_ = db.Close()
								t.Fatal("a new file opened beside another's log")
							}
							if !errors.Is(err, ErrLogMismatch) {
								t.Fatalf("a new file beside another's log: %v; want ErrLogMismatch", err)
							}
							if got := dirNames(t, dir); !empty && got != names {
								t.Fatalf("the Open refused with ErrLogMismatch left %q in %s; want %q", got, dir, names)
							}
						}
						return
					}
					if err := os.Rename(logDir, logDir+".moved"); err != nil {
						t.Fatal(err)
					}
					db, err = Open(path, 0o600, &opts)
					if err != nil {
						t.Fatalf("Open with the file moved aside: %v", err)
					}
					closeChecked(t, db)
				})
			}
		}
	}
}
