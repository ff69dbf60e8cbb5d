//go:build unix

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fileOwner is the user id owning the file fi describes (a variable, so a
// test can play a link planted by another user, which takes root to make).
var fileOwner = func(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// trustLink fails for a symbolic link at path (fi its Lstat) that the
// kernel's protected_symlinks would not follow: one in a sticky
// world-writable directory (/tmp), owned by neither that directory's
// owner nor us. A shell's "> /tmp/x" is refused such a link (EACCES), and
// the tool, which reads links itself to make the file they name
// (linkTarget), must not be the way around it: a link planted in /tmp
// would have "folio dump app.db -o /tmp/report", run as root, replace or
// create whatever file it names. NB: we refuse it whether or not the
// sysctl is on; following another user's link there is what it guards.
func trustLink(path string, fi fs.FileInfo) error {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil || di.Mode()&fs.ModeSticky == 0 || di.Mode().Perm()&0o002 == 0 {
		return nil
	}
	owner := fileOwner(fi)
	if owner == fileOwner(di) || owner == os.Geteuid() {
		return nil
	}
	return pathErrorf(path, "a symbolic link in %s, a sticky directory anyone may write, made by another user (uid %d): "+
		"not following it, as the kernel does not follow it for a shell's > (%w)", dir, owner, fs.ErrPermission)
}
