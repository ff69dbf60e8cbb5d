//go:build !amd64 && !arm64

package btree

// prefetch is a no-op where folio has no prefetch instruction.
func prefetch(p *byte, lines int) {}
