package folio

// AIX is a Unix, but it has no flock(2) (nor does golang.org/x/sys/unix
// for it), only fcntl record locks. Those belong to the process, not to
// the open file: a second Open of the same file in one process would not
// wait for the first, and closing any descriptor of the file would drop
// the lock while the database is open. folio's single-writer guarantee
// rests on the lock, so it refuses to build here rather than run with a
// weaker one (bbolt's bolt_aix.go takes that risk).
//
// The name below is undefined on purpose: a build here fails with this one
// error, which says why; lock_other.go supplies the rest.
var _ = folio_needs_flock_which_aix_lacks
