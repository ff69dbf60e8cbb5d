package tx

// noSpace is false on Plan 9, whose syscall package names no errno values:
// folio does not run there (the root package refuses to build, saying
// why: platform_other.go), and this file only lets the build reach that
// error instead of stopping here.
func noSpace(error) bool { return false }

// badAddress is false on Plan 9 (see noSpace).
func badAddress(error) bool { return false }
