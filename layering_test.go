package folio

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering checks that imports go to lower floors only (STYLE.md):
// page at the bottom; btree, freelist and wal on page alone (wal on
// nothing of folio's); tx on those; the root on tx; cmd on the root.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/foliodb/folio"
	floor := func(pkg string) int {
		switch rel := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/"); {
		case rel == "page":
			return 0
		case rel == "btree" || rel == "freelist" || rel == "wal":
			return 1
		case rel == "tx":
			return 2
		case rel == "":
			return 3
		default:
			return 4
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp != mod && !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			if strings.HasPrefix(imp, mod+"/cmd/") && strings.HasPrefix(pkg, mod+"/cmd/") {
				continue // the CLI's own internal packages
			}
			if floor(imp) >= floor(pkg) {
				t.Errorf("%s imports %s: imports must go to a lower floor", pkg, imp)
			}
			if pkg == mod+"/wal" {
				t.Errorf("wal imports %s: it must know nothing of folio", imp)
			}
		}
	}
}
