package folio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// backupFill commits n keys into bucket "b" of db, in one transaction.
func backupFill(t *testing.T, db *DB, from, n int) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := from; i < from+n; i++ {
			if err := b.Put([]byte(fmt.Sprintf("k%06d", i)), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// backupKeys opens path read-only and returns how many keys bucket "b"
// holds, after checking the whole file.
func backupKeys(t *testing.T, path string, opts *Options) int {
	t.Helper()
	if opts == nil {
		opts = &Options{ReadOnly: true}
	}
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Errorf("open %s: %v", path, err)
		return -1
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *Tx) error {
		for err := range tx.Check() {
			t.Errorf("check %s: %v", path, err)
		}
		b := tx.Bucket([]byte("b"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return n
}

// TestBackupCopyFileOntoItself: Tx.CopyFile given the database's own
// path (or a symbolic or hard link to it) must refuse (ErrCopyOntoDB),
// not truncate the file it is reading: O_TRUNC emptied the live
// database, WriteTo then failed with EFAULT reading the mapping past the
// new end, and every committed key was lost (the file kept two meta
// pages and nothing else).
func TestBackupCopyFileOntoItself(t *testing.T) {
	for _, mode := range []string{"direct", "wal"} {
		for _, via := range []string{"path", "symlink", "hardlink"} {
			t.Run(mode+"/"+via, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "a.db")
				opts := &Options{PageSize: 1024}
				if mode == "wal" {
					opts.WAL = true
				}
				db, err := Open(path, 0o600, opts)
				if err != nil {
					t.Fatal(err)
				}
				backupFill(t, db, 0, 500)
				dst := path
				switch via {
				case "symlink":
					dst = filepath.Join(dir, "link.db")
					if err := os.Symlink("a.db", dst); err != nil {
						t.Fatal(err)
					}
				case "hardlink":
					dst = filepath.Join(dir, "hard.db")
					if err := os.Link(path, dst); err != nil {
						t.Fatal(err)
					}
				}
				cerr := db.View(func(tx *Tx) error { return tx.CopyFile(dst, 0o600) })
				if err := db.Close(); err != nil {
					t.Logf("close: %v", err)
				}
				if !errors.Is(cerr, ErrCopyOntoDB) {
					t.Errorf("CopyFile onto the database itself (%s): %v, want ErrCopyOntoDB", via, cerr)
				}
				if n := backupKeys(t, path, &Options{ReadOnly: mode == "direct", WAL: mode == "wal"}); n != 500 {
					t.Fatalf("after CopyFile onto itself (%s): %d keys, want the 500 committed (CopyFile error: %v)", via, n, cerr)
				}
			})
		}
	}
}

// crashedWALDir makes a WAL-mode database at dir/real.db as a crash
// leaves it: 300 keys committed in the log, none of them checkpointed
// into the file (copied while the database is open, as a crash image).
func crashedWALDir(t *testing.T, dir string) string {
	t.Helper()
	live := filepath.Join(t.TempDir(), "live.db")
	db, err := Open(live, 0o600, &Options{PageSize: 1024, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		backupFill(t, db, i*100, 100)
	}
	path := filepath.Join(dir, "real.db")
	copyFileVerified(t, live, path)
	if err := os.Mkdir(LogDir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(LogDir(live))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			copyFileVerified(t, filepath.Join(LogDir(live), e.Name()), filepath.Join(LogDir(path), e.Name()))
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyFileVerified(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return // a spare segment renamed meanwhile
		}
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupOpenThroughSymlinkKeepsLog: Open looks for the log
// at LogDir(path) of the name it is given (db.go: logDir :=
// LogDir(path)), so a database opened through a symbolic link after a
// WAL-mode crash did not see the log beside the file it names. A
// read-only open then served (and WriteTo copied) the file's last
// checkpoint with every logged commit missing, where the real name fails
// with ErrLogPending; a read-write open in WAL mode started a new log
// beside the link and committed onto the stale file, after which the
// real log no longer followed the file: the acknowledged commits were
// lost (ErrLogMismatch by the real name).
func TestBackupOpenThroughSymlinkKeepsLog(t *testing.T) {
	dir := t.TempDir()
	path := crashedWALDir(t, dir)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, 0o600, &Options{ReadOnly: true}); !errors.Is(err, ErrLogPending) {
		t.Fatalf("read-only open by the real name: %v, want ErrLogPending", err)
	}
	if db, err := Open(link, 0o600, &Options{ReadOnly: true}); err == nil {
		var buf bytes.Buffer
		_ = db.View(func(tx *Tx) error { _, err := tx.WriteTo(&buf); return err })
		in, _ := db.Info()
		db.Close()
		t.Errorf("read-only open through a link: nil error at txid %d (a %d-byte copy without the logged commits), want ErrLogPending", in.TxID, buf.Len())
	}

	db, err := Open(link, 0o600, &Options{WAL: true})
	if err != nil {
		t.Fatalf("WAL-mode open through a link: %v", err)
	}
	backupFill(t, db, 1000, 1)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := backupKeys(t, path, &Options{WAL: true}); n != 301 {
		t.Errorf("by its real name after a commit through a link: %d keys, want the 300 logged and 1 more", n)
	}
}

// backupChildEnv, set, makes TestBackupCopyFileThroughLinkSyncsTarget
// the child it runs under strace, working in the directory it names.
const backupChildEnv = "FOLIO_BACKUP_CHILD"

// TestBackupCopyFileThroughLinkSyncsTarget: CopyFile promises a
// copy it returned nil for survives a power loss under its name, and
// syncs the directory of path for it (wal.SyncDir(filepath.Dir(path))).
// A path that is a symbolic link to a file not yet made in another
// directory (as a shell's > follows it) creates the file there, and that
// directory was never synced: its new entry could vanish with the power.
func TestBackupCopyFileThroughLinkSyncsTarget(t *testing.T) {
	if dir := os.Getenv(backupChildEnv); dir != "" {
		db, err := Open(filepath.Join(dir, "src.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.View(func(tx *Tx) error { return tx.CopyFile(filepath.Join(dir, "link.db"), 0o600) }); err != nil {
			t.Fatal(err)
		}
		fmt.Println("backup child: acked")
		os.Exit(0)
	}
	if runtime.GOOS != "linux" {
		t.Skip("strace: Linux only")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not found")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(out, "copy.db")
	if err := os.Symlink(copyPath, filepath.Join(dir, "link.db")); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-y", "-e", "trace=openat,fsync", "-o", trace,
		os.Args[0], "-test.run=^TestBackupCopyFileThroughLinkSyncsTarget$", "-test.count=1")
	cmd.Env = append(os.Environ(), backupChildEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(b, []byte("ptrace")) || bytes.Contains(b, []byte("PTRACE")) {
			t.Skipf("strace cannot trace here: %s", b)
		}
		t.Fatalf("child: %v\n%s", err, b)
	}
	if !bytes.Contains(b, []byte("backup child: acked")) {
		t.Fatalf("child did not finish:\n%s", b)
	}
	tb, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(copyPath); err != nil {
		t.Fatalf("the copy was not made through the link: %v", err)
	}
	lines := strings.Split(string(tb), "\n")
	created := -1
	for i, l := range lines {
		if strings.Contains(l, "link.db") && strings.Contains(l, "O_CREAT") {
			created = i
			break
		}
	}
	if created < 0 {
		t.Fatalf("the trace shows no create of the copy:\n%s", tb)
	}
	re := regexp.MustCompile(`fsync\(\d+<` + regexp.QuoteMeta(out) + `>`)
	for _, l := range lines[created:] {
		if re.MatchString(l) {
			return
		}
	}
	t.Errorf("CopyFile through a link made %s and returned nil, but never fsynced %s, the directory holding its name "+
		"(it synced the link's directory): a power loss can drop the copy", copyPath, out)
}

// txDigest is every key and value of bucket "b" as tx sees it.
func txDigest(t *testing.T, tx *Tx) string {
	t.Helper()
	var sb strings.Builder
	b := tx.Bucket([]byte("b"))
	if b == nil {
		return ""
	}
	if err := b.ForEach(func(k, v []byte) error {
		fmt.Fprintf(&sb, "%s=%x;", k, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// slowWriter hands the copy on a small piece at a time, letting
// the writer commit (and checkpoint, and cut the tail) in between.
type slowWriter struct{ buf bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		n := min(len(p), 4096)
		w.buf.Write(p[:n])
		p = p[n:]
		runtime.Gosched()
	}
	return written, nil
}

// TestBackupCopyDuringCommits: copies taken by readers while a
// writer commits, deletes (so that the tail is freed and cut) and, in WAL
// mode, checkpoints after every few commits, are exactly the reader's
// snapshot: each opens in both modes with nothing beside it, passes
// Check, and holds what the reader saw, at the reader's txid. A copy by a
// write transaction holding uncommitted changes is the state it began on.
func TestBackupCopyDuringCommits(t *testing.T) {
	for _, mode := range []string{"direct", "wal"} {
		t.Run(mode, func(t *testing.T) {
			opts := &Options{PageSize: 1024}
			if mode == "wal" {
				opts.WAL, opts.CheckpointBytes, opts.CheckpointInterval = true, 64<<10, time.Hour
			}
			db := openTest(t, opts)
			backupFill(t, db, 0, 300)
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				var err error
				for i := 0; err == nil; i++ {
					select {
					case <-stop:
						done <- nil
						return
					default:
					}
					err = db.Update(func(tx *Tx) error {
						b := tx.Bucket([]byte("b"))
						if i%7 == 6 { // drop most keys: the tail frees up
							c := b.Cursor()
							for k, _ := c.First(); k != nil; k, _ = c.Next() {
								if k[len(k)-1] != '0' {
									if err := c.Delete(); err != nil {
										return err
									}
								}
							}
							return nil
						}
						for j := 0; j < 40; j++ {
							if err := b.Put([]byte(fmt.Sprintf("k%06d", (i*40+j)%700)), bytes.Repeat([]byte{byte(i)}, 60+j*9)); err != nil {
								return err
							}
						}
						return nil
					})
				}
				done <- err
			}()
			dir := t.TempDir()
			var txids []int
			defer func() { t.Logf("snapshots copied at txids %v", txids) }()
			for round := 0; round < 12; round++ {
				var w slowWriter
				var want string
				var txid int
				if err := db.View(func(tx *Tx) error {
					want, txid = txDigest(t, tx), tx.ID()
					n, err := tx.WriteTo(&w)
					if err == nil && n != tx.Size() {
						err = fmt.Errorf("WriteTo wrote %d bytes, Size says %d", n, tx.Size())
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
				txids = append(txids, txid)
				path := filepath.Join(dir, fmt.Sprintf("copy%d.db", round))
				if err := os.WriteFile(path, w.buf.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
				for _, o := range []*Options{{ReadOnly: true}, {WAL: true}} {
					c, err := Open(path, 0o600, o)
					if err != nil {
						t.Fatalf("round %d: open the copy (WAL %v): %v", round, o.WAL, err)
					}
					if err := c.View(func(tx *Tx) error {
						if tx.ID() != txid {
							t.Errorf("round %d: copy at txid %d, the snapshot was %d", round, tx.ID(), txid)
						}
						if got := txDigest(t, tx); got != want {
							t.Errorf("round %d (WAL %v): the copy differs from the reader's snapshot", round, o.WAL)
						}
						for err := range tx.Check() {
							t.Errorf("round %d (WAL %v): check the copy: %v", round, o.WAL, err)
						}
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.RemoveAll(LogDir(path)); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			if err := <-done; err != nil {
				t.Fatalf("writer: %v", err)
			}

			// A write transaction's copy leaves its own changes out.
			tx, err := db.Begin(true)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			want, txid := txDigest(t, tx), tx.ID()
			if err := tx.Bucket([]byte("b")).Put([]byte("uncommitted"), []byte("x")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "wtx.db")
			if err := tx.CopyFile(path, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(LogDir(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("CopyFile left %s beside the copy: %v", LogDir(path), err)
			}
			c, err := Open(path, 0o600, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.View(func(ctx *Tx) error {
				if got := txDigest(t, ctx); got != want || ctx.ID() != txid-1 {
					t.Errorf("write tx's copy: txid %d (want %d), same content as it began on: %v", ctx.ID(), txid-1, got == want)
				}
				for err := range ctx.Check() {
					t.Errorf("write tx's copy: check: %v", err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
