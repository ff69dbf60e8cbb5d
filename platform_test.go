package folio

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var platformsAll = flag.Bool("platforms.all", false, "TestPlatformsBuild: vet and build every platform it lists, not one of each")

// TestPlatformsBuild keeps README's Platforms table true. Three Unix
// platforms, which between them compile every build-tagged file folio has
// (a 32-bit int with the Linux files; the portable file_other.go with the
// BSD terminal code and arm64's prefetch; illumos, whose syscall package
// lacks calls Linux has), vet the whole module, test files included: a
// test that builds only on 64-bit Linux fails here, not on a user's
// machine. Three more build it without tests: big-endian, no prefetch
// instruction, a 32-bit BSD. Windows, WebAssembly and AIX (no flock)
// refuse to build the root package, and cmd/folio with it, with the one
// error platform_other.go or platform_aix.go gives on purpose, naming
// why; no other error may come first.
//
// A platform's first run compiles the standard library for it (30-60 s
// each on the 2-core test machine); after that the build cache holds it,
// and a change to the root package costs about 10 s of CPU per vet. So
// the suite vets and builds one of each, and -platforms.all all six, and
// checks Plan 9's refusal too.
func TestPlatformsBuild(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to cross-compile with: %v", err)
	}
	vetted := []string{"linux/386", "darwin/arm64", "illumos/amd64"}
	built := []string{"linux/s390x", "linux/riscv64", "netbsd/arm"}
	if !*platformsAll {
		// The root suite runs this on every change: one of each.
		vetted, built = vetted[:1], built[:1]
		if testing.Short() {
			built = nil
		}
	}
	for _, p := range vetted {
		t.Run("vet_"+strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			if out, err := goFor(goTool, p, "vet", "./..."); err != nil {
				t.Fatalf("GOOS/GOARCH %s: go vet ./...: %v\n%s", p, err, out)
			}
		})
	}
	for _, p := range built {
		t.Run("build_"+strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			if out, err := goFor(goTool, p, "build", "./..."); err != nil {
				t.Fatalf("GOOS/GOARCH %s: go build ./...: %v\n%s", p, err, out)
			}
		})
	}
	refused := []struct {
		platform string
		pkgs     []string
		ident    string
	}{
		{"windows/amd64", []string{".", "./cmd/folio"}, "folio_supports_unix_only"},
		// cmd/folio's bbolt does not build on WebAssembly either, and its
		// error may come first; the library's own is tested.
		{"wasip1/wasm", []string{"."}, "folio_supports_unix_only"},
		{"aix/ppc64", []string{".", "./cmd/folio"}, "folio_needs_flock_which_aix_lacks"},
	}
	if *platformsAll {
		// Rare enough not to cost every run a standard library build.
		refused = append(refused, struct {
			platform string
			pkgs     []string
			ident    string
		}{"plan9/amd64", []string{"."}, "folio_supports_unix_only"})
	}
	for _, r := range refused {
		t.Run("refused_"+strings.ReplaceAll(r.platform, "/", "_"), func(t *testing.T) {
			out, err := goFor(goTool, r.platform, append([]string{"build"}, r.pkgs...)...)
			if err == nil {
				t.Fatalf("GOOS/GOARCH %s: go build %s succeeded; want it refused with %s", r.platform, strings.Join(r.pkgs, " "), r.ident)
			}
			var errs []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "go: downloading") {
					errs = append(errs, line)
				}
			}
			if len(errs) == 0 {
				t.Fatalf("GOOS/GOARCH %s: go build failed with no error message: %v\n%s", r.platform, err, out)
			}
			for _, e := range errs {
				if !strings.Contains(e, "undefined: "+r.ident) {
					t.Errorf("GOOS/GOARCH %s: go build %s: got %q; want only \"undefined: %s\"\n%s",
						r.platform, strings.Join(r.pkgs, " "), e, r.ident, out)
				}
			}
		})
	}
}

// goFor runs the go tool in the module's root for platform ("GOOS/GOARCH"),
// without cgo, which would need a C cross compiler.
func goFor(goTool, platform string, args ...string) ([]byte, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	cmd := exec.Command(goTool, args...)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}
