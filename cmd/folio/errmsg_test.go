package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foliodb/folio"
)

// TestErrorMessage: the line drops the "folio: " that opens the
// library's errors, wherever one is wrapped, and keeps every other word:
// a path, bucket or key named folio included.
func TestErrorMessage(t *testing.T) {
	notFolio := errors.New("folio/page: not a folio database")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("folio: open %s: %w", "a.db", notFolio), "open a.db: folio/page: not a folio database"},
		{fmt.Errorf("backup %s: %w", "a.db", fmt.Errorf("folio: open %s: %w", "a.db", errors.New("x"))), "backup a.db: open a.db: x"},
		// The wrapper's "create t: " is what the library's error says.
		{fmt.Errorf("compact %s: %w", "a", fmt.Errorf("create %s: %w", "t",
			fmt.Errorf("folio: create %s: %w", "t", &fs.PathError{Op: "open", Path: "t.new", Err: syscall.ENOENT}))),
			"compact a: create t: open t.new: no such file or directory"},
		{withPath("a.db", fmt.Errorf("bucket %q: %w", "folio", folio.ErrBucketNotFound)), `a.db: bucket "folio": bucket not found`},
		{fmt.Errorf("bucket %s: %w: %s", "folio", errKeyNotFound, `"folio"`), `bucket folio: key not found: "folio"`},
		// A database file named folio.
		{pathErrorf("folio", "no such file"), "folio: no such file"},
		{pathErrorf("folio", "%w (the file is empty)", folio.ErrInvalid), "folio: folio/page: not a folio database (the file is empty)"},
		{withPath("folio", fmt.Errorf("folio: %s: %w: 100 bytes is too short", "folio", notFolio)), "folio: folio/page: not a folio database: 100 bytes is too short"},
		{withPath("folio", fmt.Errorf("folio: open %s: %w", "folio", errors.New("bad"))), "open folio: bad"},
		{withPath("folio", fmt.Errorf("folio: cannot map %d bytes", 8)), "folio: cannot map 8 bytes"},
		{withPath("folio", fmt.Errorf("bucket %q: %w", "b", folio.ErrBucketNotFound)), `folio: bucket "b": bucket not found`},
		{fmt.Errorf("folio: open %s: write-ahead log %s: %w: %w", "folio", "folio.wal", folio.ErrLogCorrupt, errors.New("folio/wal: bad frame")),
			"open folio: write-ahead log folio.wal: the write-ahead log is damaged: folio/wal: bad frame"},
		{logPendingError{path: "folio"}, logPendingError{path: "folio"}.Error()},
		{lockedError{"folio", time.Second}, "folio is locked by another process (waited 1s; try --timeout)"},
		{usageError{fmt.Errorf("--fill %v: want a fraction from 0.1 to 1", 2)}, "--fill 2: want a fraction from 0.1 to 1"},
		{errors.Join(folio.ErrTimeout, errors.New("b")), "timeout waiting for the database file lock\nb"},
		// A wrapper naming the file before an error that begins with it
		// alone says it once; so does an error that begins with it alone
		// before one naming it.
		{fmt.Errorf("dump %s: %w", "a.db", fmt.Errorf("folio: %s: %w", "a.db", fmt.Errorf("bucket %q: %w", "b", errors.New("x")))),
			`dump a.db: bucket "b": x`},
		{fmt.Errorf("backup %s: %w", "a.db", pathErrorf("a.db", "no such file")), "backup a.db: no such file"},
		{fmt.Errorf("load %s: %w", "a.db", dbFileError{pathErrorf("a.db", "%w (the file is empty)", folio.ErrInvalid)}),
			"load a.db: folio/page: not a folio database (the file is empty)"},
		{&pathError{path: "a.db", err: &fs.PathError{Op: "open", Path: "a.db", Err: syscall.EACCES}}, "open a.db: permission denied"},
		{withPath("a.db", fmt.Errorf("check: %w", fmt.Errorf("folio: %s: %w", "a.db", errors.New("x")))), "check: a.db: x"},
		{withPath("a.db", fmt.Errorf("check: %w", errors.New("x"))), "a.db: check: x"},
		// Each names it with words of its own: both kept.
		{fmt.Errorf("load %s: %w", "a.db", &fs.PathError{Op: "open", Path: "a.db", Err: syscall.EACCES}), "load a.db: open a.db: permission denied"},
		// Not a file's name at the end of a word.
		{fmt.Errorf("get key%s: %w", "a", errors.New("a: x")), "get keya: a: x"},
	} {
		if got := errorMessage(tc.err); got != tc.want {
			t.Errorf("errorMessage(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestFileNamedFolio: a database file named folio keeps its name in the
// error line, which starts with the tool's own "folio: ".
func TestFileNamedFolio(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args  []string
		setup func()
		want  string
	}{
		{[]string{"info", "folio"}, nil, "folio: folio: no such file\n"},
		{[]string{"dump", "folio"}, func() {
			if err := os.WriteFile("folio", []byte("short"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "folio: folio: folio/page: not a folio database: 5 bytes is too short"},
		{[]string{"check", "folio"}, func() {
			if err := os.WriteFile("folio", nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "folio: folio: folio/page: not a folio database (the file is empty)\n"},
		{[]string{"get", "folio", "nob", "k"}, func() {
			if err := os.Remove("folio"); err != nil {
				t.Fatal(err)
			}
			db, err := folio.Open("folio", 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}, `folio: folio: bucket "nob": bucket not found` + "\n"},
		{[]string{"migrate", "--from", "bbolt", "nofolio", "out.db"}, nil, "folio: nofolio: no such file\n"},
	} {
		if tc.setup != nil {
			tc.setup()
		}
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitFail || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, exitFail, tc.want)
		}
	}
}

// TestNoPathFirstErrorf keeps errorMessage's invariant: the tool's plain
// errors never begin with a path ("%s: ..."), which errorMessage would
// take for the library's "folio: " when the path is folio; pathErrorf
// puts a path first. A few begin with something else that is never a
// path: a workload's name, a position in a dump.
func TestNoPathFirstErrorf(t *testing.T) {
	notPaths := map[string]bool{"name": true, "l.rd.PosString": true}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Errorf" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			format, err := strconv.Unquote(lit.Value)
			if err != nil || !strings.HasPrefix(format, "%s: ") && !strings.HasPrefix(format, "%v: ") {
				return true
			}
			first := call.Args[1]
			if c, ok := first.(*ast.CallExpr); ok {
				first = c.Fun
			}
			var sb strings.Builder
			if err := printer.Fprint(&sb, fset, first); err != nil {
				t.Fatal(err)
			}
			if !notPaths[sb.String()] {
				t.Errorf("%s: Errorf(%q, %s, ...): put a path first with pathErrorf", fset.Position(call.Pos()), format, sb.String())
			}
			return true
		})
	}
}
