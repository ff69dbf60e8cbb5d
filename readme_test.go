package folio

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// readmeSection returns the part of README.md from the heading line
// that starts with heading to the next heading of the same or a higher
// level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading)
	if i < 0 {
		t.Fatalf("README.md has no heading %q", heading)
	}
	s = s[i+1:]
	level := strings.Index(heading, " ")
	if level < 0 {
		level = len(heading)
	}
	for _, end := range []string{"\n# ", "\n## ", "\n### "}[:level] {
		if j := strings.Index(s[len(heading):], end); j >= 0 {
			s = s[:len(heading)+j]
		}
	}
	return s
}

// TestDocsReadmeExampleRuns: the Go code under "Using it" in
// README.md is what a user copies first; nothing compiled it (the
// Example functions are separate code). It is built as the body of a
// main function, against this module, and run in an empty directory:
// it must print the value it stored.
func TestDocsReadmeExampleRuns(t *testing.T) {
	sec := readmeSection(t, "## Using it")
	start := strings.Index(sec, "```go\n")
	end := strings.Index(sec[start+1:], "\n```")
	if start < 0 || end < 0 {
		t.Fatal(`README.md, "Using it": no Go code block`)
	}
	body := sec[start+len("```go\n") : start+1+end]
	imports := []string{`"github.com/foliodb/folio"`}
	for _, p := range []string{"fmt", "log", "errors", "os", "bytes"} {
		if strings.Contains(body, p+".") {
			imports = append(imports, `"`+p+`"`)
		}
	}
	src := "package main\n\nimport (\n\t" + strings.Join(imports, "\n\t") + "\n)\n\nfunc main() {\n" + body + "\n}\n"

	// The program goes into the module through an overlay, so no
	// directory is made in the source tree: a package the go command
	// sees only in this build.
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	mainGo := filepath.Join(tmp, "main.go")
	if err := os.WriteFile(mainGo, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(root, "readmeexample", "main.go"): mainGo},
	})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "readme-example")
	build := exec.Command("go", "build", "-overlay", ov, "-o", bin, "./readmeexample")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("README.md's example does not build: %v\n%s\nthe program:\n%s", err, out, src)
	}
	run := exec.Command(bin)
	run.Dir = t.TempDir()
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("README.md's example: %v\n%s", err, out)
	}
	if string(out) != "blue\n" {
		t.Errorf("README.md's example printed %q, want %q", out, "blue\n")
	}
}

// TestDocsOptionsAndErrorsInReadme: README says it documents
// every user-visible behaviour; its Options table must name every
// field of Options, its Errors table every error the root package
// exports, and the paragraph after the Options table the DB's tunable
// fields. A field or error added without a row fails here.
func TestDocsOptionsAndErrorsInReadme(t *testing.T) {
	opts := readmeSection(t, "### Options")
	for f := range reflect.TypeFor[Options]().Fields() {
		if f.IsExported() && !strings.Contains(opts, "`"+f.Name+"`") {
			t.Errorf(`README.md, "Options": no row names Options.%s`, f.Name)
		}
	}
	for f := range reflect.TypeFor[DB]().Fields() {
		if f.IsExported() && !strings.Contains(opts, "`"+f.Name+"`") {
			t.Errorf(`README.md, "Options": the DB's fields do not name DB.%s`, f.Name)
		}
	}

	errs := readmeSection(t, "### Errors")
	fs := token.NewFileSet()
	pkgs, err := parser.ParseDir(fs, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range pkgs["folio"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	if len(names) < 30 {
		t.Fatalf("found %d exported errors in the root package (%v); the parse missed some", len(names), names)
	}
	for _, n := range names {
		if !regexp.MustCompile("\\n\\| [^|]*`" + n + "`").MatchString(errs) {
			t.Errorf(`README.md, "Errors": no row for %s`, n)
		}
	}
}

// TestDocsBboltAPIDifferencesListed: README says a bbolt
// program moves over by changing its import path (and == into
// errors.Is) unless it uses one of the parts of bbolt's API it lists as
// lacking. Every method and field of bbolt 1.4.3's exported types that
// folio lacks, or has with another type, must be in that list (README,
// "The API, and where it differs from bbolt"); and each listed name
// must still be one.
func TestDocsBboltAPIDifferencesListed(t *testing.T) {
	pairs := []struct{ bolt, folio reflect.Type }{
		{reflect.TypeFor[*bolt.DB](), reflect.TypeFor[*DB]()},
		{reflect.TypeFor[*bolt.Tx](), reflect.TypeFor[*Tx]()},
		{reflect.TypeFor[*bolt.Bucket](), reflect.TypeFor[*Bucket]()},
		{reflect.TypeFor[*bolt.Cursor](), reflect.TypeFor[*Cursor]()},
		{reflect.TypeFor[*bolt.Options](), reflect.TypeFor[*Options]()},
		{reflect.TypeFor[*bolt.Stats](), reflect.TypeFor[*Stats]()},
		{reflect.TypeFor[*bolt.TxStats](), reflect.TypeFor[*TxStats]()},
		{reflect.TypeFor[*bolt.BucketStats](), reflect.TypeFor[*BucketStats]()},
	}
	// sameShape compares two types, bbolt's names read as folio's.
	var sameShape func(b, f reflect.Type) bool
	sameShape = func(b, f reflect.Type) bool {
		if b.Kind() != f.Kind() {
			return false
		}
		switch b.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Chan:
			return sameShape(b.Elem(), f.Elem())
		case reflect.Func:
			if b.NumIn() != f.NumIn() || b.NumOut() != f.NumOut() || b.IsVariadic() != f.IsVariadic() {
				return false
			}
			for i := range b.NumIn() {
				if !sameShape(b.In(i), f.In(i)) {
					return false
				}
			}
			for i := range b.NumOut() {
				if !sameShape(b.Out(i), f.Out(i)) {
					return false
				}
			}
			return true
		case reflect.Interface:
			// A value of bbolt's interface must satisfy folio's.
			for m := range f.Methods() {
				bm, ok := b.MethodByName(m.Name)
				if !ok || !sameShape(bm.Type, m.Type) {
					return false
				}
			}
			return true
		case reflect.Struct:
			if !boltType(b) {
				return b == f
			}
			return b.Name() == f.Name()
		}
		if !boltType(b) {
			return b == f
		}
		// A program cannot name a type of bbolt's internal packages
		// (Bucket.Root's common.Pgid), only use its value: the kind
		// decides.
		return b.Name() == f.Name() || strings.HasPrefix(b.PkgPath(), "go.etcd.io/bbolt/internal/")
	}
	var lacking []string
	for _, p := range pairs {
		name := p.bolt.Elem().Name()
		for m := range p.bolt.Methods() {
			fm, ok := p.folio.MethodByName(m.Name)
			if !ok || !sameShape(m.Type.In(0), fm.Type.In(0)) || !sameShape(withoutRecv(m.Type), withoutRecv(fm.Type)) {
				lacking = append(lacking, name+"."+m.Name)
			}
		}
		for f := range p.bolt.Elem().Fields() {
			if !f.IsExported() {
				continue
			}
			ff, ok := p.folio.Elem().FieldByName(f.Name)
			if !ok || !sameShape(f.Type, ff.Type) {
				lacking = append(lacking, name+"."+f.Name)
			}
		}
	}
	api := readmeSection(t, "### The API, and where it differs from bbolt")
	listed := api[strings.Index(api, "It lacks these"):]
	// The list ends with bbolt's errors package ("… `Err…` names).").
	listed = strings.Join(strings.Fields(listed[:strings.Index(listed, "names).")]), " ")
	// Methods bbolt's Bucket gets from its embedded *common.InBucket
	// are listed by name after that field.
	embedded := map[string]bool{}
	for f := range reflect.TypeFor[bolt.Bucket]().Fields() {
		if f.Anonymous {
			for m := range reflect.PointerTo(f.Type.Elem()).Methods() {
				embedded["Bucket."+m.Name] = true
			}
		}
	}
	for _, n := range lacking {
		// TxStats' Inc… methods are listed together.
		if strings.HasPrefix(n, "TxStats.Inc") {
			if !strings.Contains(listed, "`TxStats`' `Inc…` methods") {
				t.Errorf("bbolt's %s: folio lacks it, and README does not list TxStats' Inc… methods", n)
			}
			continue
		}
		if embedded[n] {
			if m := strings.TrimPrefix(n, "Bucket."); !strings.Contains(listed, "`Bucket.InBucket`") || !strings.Contains(listed, "`"+m+"`") {
				t.Errorf("bbolt's %s (from its embedded InBucket): folio lacks it, and README does not list it after `Bucket.InBucket`", n)
			}
			continue
		}
		if !strings.Contains(listed, "`"+n+"`") {
			t.Errorf("bbolt's %s: folio lacks it or gives it another type, and README's list of what a bbolt program must change does not name it", n)
		}
	}
	// The other way: each Type.Name in the list is one bbolt has and
	// folio lacks (or has with another type).
	for _, m := range regexp.MustCompile("`((DB|Tx|Bucket|Cursor|Options|Stats|TxStats|BucketStats)\\.[A-Za-z]+)`").FindAllStringSubmatch(listed, -1) {
		if !slices.Contains(lacking, m[1]) {
			t.Errorf("README lists bbolt's %s as lacking in folio, but folio has it with bbolt's type", m[1])
		}
	}
}

// boltType reports whether t is one of bbolt's own types, which folio
// matches by name: its root package's, or its internal packages' that
// its API hands out (Tx.Page returns *common.PageInfo).
func boltType(t reflect.Type) bool {
	return t.PkgPath() == "go.etcd.io/bbolt" || strings.HasPrefix(t.PkgPath(), "go.etcd.io/bbolt/internal/")
}

// withoutRecv is a method's func type without its receiver.
func withoutRecv(m reflect.Type) reflect.Type {
	in := make([]reflect.Type, 0, m.NumIn()-1)
	for i := 1; i < m.NumIn(); i++ {
		in = append(in, m.In(i))
	}
	out := make([]reflect.Type, 0, m.NumOut())
	for i := range m.NumOut() {
		out = append(out, m.Out(i))
	}
	return reflect.FuncOf(in, out, m.IsVariadic())
}

// TestDocsEmptyKey: README's Errors table said ErrKeyRequired
// is returned for "an empty key"; Put returns it, but Delete of an
// empty key, as bbolt's, is the delete of a missing key: nil, nothing
// removed. bbolt 1.4.3 is run beside it.
func TestDocsEmptyKey(t *testing.T) {
	db := openTest(t, nil)
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	for _, key := range [][]byte{nil, {}} {
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			if err := b.Put(key, []byte("v")); !errors.Is(err, ErrKeyRequired) {
				t.Errorf("Put(%#v): %v, want ErrKeyRequired", key, err)
			}
			if err := b.Delete(key); err != nil {
				t.Errorf("Delete(%#v): %v, want nil (a missing key)", key, err)
			}
			if b.Get([]byte("k")) == nil {
				t.Errorf("Delete(%#v) removed another key", key)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := bdb.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			if err := b.Put(key, []byte("v")); !errors.Is(err, berrors.ErrKeyRequired) {
				t.Errorf("bbolt Put(%#v): %v, want ErrKeyRequired", key, err)
			}
			if err := b.Delete(key); err != nil {
				t.Errorf("bbolt Delete(%#v): %v, want nil", key, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDocsCompactTxMaxSize: Compact's doc and README say
// txMaxSize 0 copies in one transaction, and said nothing of a negative
// one, which bbolt's takes as a limit every entry passes (a commit
// before each). folio copies in one transaction for both; a positive
// limit splits the copy.
func TestDocsCompactTxMaxSize(t *testing.T) {
	src := openTest(t, nil)
	if err := src.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 100 {
			if err := b.Put([]byte{byte(i)}, make([]byte, 50)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max     int64
		commits int64 // at least, for a positive max
	}{{0, 1}, {-1, 1}, {1000, 5}} {
		dst := openTest(t, nil)
		before := dst.Stats().TxStats.Commits
		if err := Compact(dst, src, tc.max); err != nil {
			t.Fatalf("Compact with txMaxSize %d: %v", tc.max, err)
		}
		got := dst.Stats().TxStats.Commits - before
		if tc.max <= 0 && got != tc.commits || tc.max > 0 && got < tc.commits {
			t.Errorf("Compact with txMaxSize %d: %d commits, want %d", tc.max, got, tc.commits)
		}
		if err := dst.View(func(tx *Tx) error {
			if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 100 {
				t.Errorf("txMaxSize %d: %d keys copied, want 100", tc.max, n)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
