//go:build !invariants && !race

package page

// Invariants is true in builds that run folio's expensive self-checks
// (the invariants tag, or -race). Code guarded by it compiles away otherwise.
const Invariants = false
