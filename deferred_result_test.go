package folio

import (
	"errors"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeferredCallsSeeNamedResults: a deferred call that names one of
// its function's named results (defer closeDB(db, &err), or a deferred
// closure setting err) must reach that result, not a variable of the
// same name declared in a block of the body: the result is what the
// caller gets, and a deferred write to the shadowing variable is lost.
// folio checkpoint on a database without a log dropped its close error
// that way. Only scopes are checked, so imports are not loaded.
func TestDeferredCallsSeeNamedResults(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if dir != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		bp, err := build.ImportDir(dir, 0)
		if _, ok := errors.AsType[*build.NoGoError](err); ok {
			return nil
		}
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		var files []*ast.File
		for _, name := range bp.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: noImports{}, Error: func(error) {}} // imports fail; scopes do not need them
		_, _ = conf.Check(bp.Name, fset, files, info)
		for _, f := range files {
			checked += deferredResultMisses(t, fset, info, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 30 {
		t.Fatalf("checked %d deferred calls in functions with named results; the walk missed some", checked)
	}
}

type noImports struct{}

func (noImports) Import(string) (*types.Package, error) { return nil, errors.New("not loaded") }

// deferredResultMisses reports each deferred call in f whose mention of a
// named result resolves to another variable of the body, and returns how
// many deferred calls it checked.
func deferredResultMisses(t *testing.T, fset *token.FileSet, info *types.Info, f *ast.File) int {
	t.Helper()
	checked := 0
	ast.Inspect(f, func(n ast.Node) bool {
		var ft *ast.FuncType
		var body *ast.BlockStmt
		switch n := n.(type) {
		case *ast.FuncDecl:
			ft, body = n.Type, n.Body
		case *ast.FuncLit:
			ft, body = n.Type, n.Body
		default:
			return true
		}
		if body == nil || ft.Results == nil {
			return true
		}
		results := map[string]types.Object{}
		for _, field := range ft.Results.List {
			for _, id := range field.Names {
				if id.Name != "_" {
					results[id.Name] = info.Defs[id]
				}
			}
		}
		if len(results) == 0 {
			return true
		}
		ast.Inspect(body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false // its own defers are its own
			case *ast.DeferStmt:
				checked++
				call := n.Call
				ast.Inspect(call, func(m ast.Node) bool {
					id, ok := m.(*ast.Ident)
					if !ok {
						return true
					}
					want, ok := results[id.Name]
					got := info.Uses[id]
					if !ok || got == nil || got == want {
						return true
					}
					inBody := got.Pos() >= body.Pos() && got.Pos() < body.End()
					inCall := got.Pos() >= call.Pos() && got.Pos() < call.End()
					if inBody && !inCall {
						t.Errorf("%s: the deferred call's %s is the variable declared at %s, not the named result: what it sets is lost",
							fset.Position(id.Pos()), id.Name, fset.Position(got.Pos()))
					}
					return true
				})
				return false
			}
			return true
		})
		return true
	})
	return checked
}
