package folio

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// slowInput is how long one fuzz input may take before slowGuard stops
// the run. The fuzzing engine's own limit (10 s, a "deadlock") is too
// lax to catch an input that merely loops long, and it saves the input
// only if the worker dies: this guard names the input and stops early.
var (
	slowInput    = flag.Duration("fuzz.slow", 0, "with -fuzz: fail (and save to -fuzz.slowdir) any input of the whole-database fuzz targets that runs longer than this")
	slowInputDir = flag.String("fuzz.slowdir", "", "where slowGuard saves inputs that ran longer than a tenth of -fuzz.slow")
)

// slowGuard arms a per-input timer when -fuzz.slow is set: past
// the limit it saves in to -fuzz.slowdir and panics, which
// kills the fuzzing worker, so the engine also saves the input as a
// crasher. Inputs that take a tenth of the limit are saved without
// panicking, to study. The returned func disarms it. Off by default:
// CI runs no timed assertion.
func slowGuard(target string, in ...any) func() {
	if *slowInput == 0 {
		return func() {}
	}
	save := func(kind string, d time.Duration) {
		if *slowInputDir == "" {
			return
		}
		// The file is in the engine's corpus format, to copy into
		// testdata/fuzz as it is.
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range in {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			default:
				fmt.Fprintf(&b, "%T(%v)\n", a, a)
			}
		}
		dir := filepath.Join(*slowInputDir, target)
		_ = os.MkdirAll(dir, 0o755)
		sum := sha256.Sum256([]byte(b.String()))
		name := filepath.Join(dir, fmt.Sprintf("%s-%x-%dms", kind, sum[:8], d.Milliseconds()))
		_ = os.WriteFile(name, []byte(b.String()), 0o644)
	}
	start := time.Now()
	tm := time.AfterFunc(*slowInput, func() {
		save("hung", time.Since(start))
		panic(fmt.Sprintf("%s: an input ran longer than %v", target, *slowInput))
	})
	return func() {
		tm.Stop()
		if d := time.Since(start); d > *slowInput/10 {
			save("slow", d)
		}
	}
}

// wantDamageErr fails t unless err (not nil) is what a damaged file may
// cause: at Open (open set) ErrCorrupt, ErrInvalid or ErrVersionMismatch,
// elsewhere ErrCorrupt; and an ErrCorrupt names the page, as its doc
// promises: errors.As finds a *page.CorruptError, and past Open it names
// a meta page only for a problem of the meta, or as the wild id of a
// "page id" problem (a pointer to it, which names what it points at).
func wantDamageErr(t *testing.T, what string, err error, open bool) {
	t.Helper()
	if open && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrVersionMismatch)) {
		return
	}
	var ce *page.CorruptError
	switch {
	case !errors.Is(err, ErrCorrupt):
		t.Errorf("%s: %v, want ErrCorrupt", what, err)
	case !errors.As(err, &ce):
		t.Errorf("%s: %v: ErrCorrupt naming no page (no *page.CorruptError)", what, err)
	case !open && ce.Page < 2 && !strings.Contains(ce.What, "meta") && ce.What != "page id":
		t.Errorf("%s: %v: names meta page %d for a problem elsewhere", what, err, ce.Page)
	}
}

// wantDamageContained reads everything in db, runs Check and writes
// everywhere: each error must be one damage may cause (wantDamageErr),
// and a file Check passes must read, take the writes and pass Check
// after them (prefix starts those failures' messages).
func wantDamageContained(t *testing.T, db *DB, prefix string) {
	t.Helper()
	readErr := db.View(readAll)
	if readErr != nil {
		wantDamageErr(t, "reads", readErr, false)
	}
	problems := checkErrs(db)
	for _, err := range problems {
		wantDamageErr(t, "Check", err, false)
	}
	// NB: on a file Check faults, a write may also fail otherwise: a
	// key hint that lies makes a lookup miss a bucket a cursor saw
	// (ErrBucketNotFound).
	writeErr := writeEverywhere(db)
	if len(problems) == 0 {
		if readErr != nil || writeErr != nil {
			t.Errorf("%sCheck passed, but reads said %v and writes %v", prefix, readErr, writeErr)
		}
		for _, err := range checkErrs(db) {
			t.Errorf("%sCheck passed, then after writes: %v", prefix, err)
		}
	}
}
