package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/foliodb/folio/page"
)

// version is what folio --version prints after "folio ": the module's
// version (or "(devel)" built from a checkout) and commit, the Go that
// built it, and the database format versions it reads and writes, so an
// operator can match the tool with the program that wrote a file.
func version() string {
	v, rev, dirty := "(devel)", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = " " + s.Value[:min(len(s.Value), 12)]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+modified"
			}
		}
	}
	return fmt.Sprintf("%s%s%s, %s; reads database format versions 1 to %d, writes %d",
		v, rev, dirty, runtime.Version(), page.Version, page.Version)
}
